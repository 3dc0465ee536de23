//! Input and signals turned into messages for the event loop.

use super::app::Msg;
use crossterm::event::{Event, EventStream, MouseEventKind};
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

/// Reads terminal events until the terminal goes away; then asks the loop to quit.
pub fn spawn_terminal_input(tx: UnboundedSender<Msg>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = EventStream::new();
        while let Some(event) = events.next().await {
            let msg = match event {
                Ok(Event::Key(key)) => Msg::Key(key),
                Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
                // Only sent with --mouse: the wheel scrolls the table, three rows a notch.
                Ok(Event::Mouse(m)) => match m.kind {
                    MouseEventKind::ScrollDown => Msg::Scroll(3),
                    MouseEventKind::ScrollUp => Msg::Scroll(-3),
                    _ => continue,
                },
                // Focus and paste events have no use yet.
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "terminal input failed; quitting");
                    Msg::Quit
                }
            };
            let quit = msg == Msg::Quit;
            if tx.send(msg).is_err() || quit {
                return;
            }
        }
        let _ = tx.send(Msg::Quit);
    })
}

/// SIGTERM, SIGHUP (the SSH session dropped) and SIGQUIT become a clean quit, so the terminal
/// is restored and state is left consistent. SIGINT is not caught: in raw mode Ctrl-C is a key.
pub fn spawn_signal_watch(tx: UnboundedSender<Msg>) -> std::io::Result<JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut quit = signal(SignalKind::quit())?;
        Ok(tokio::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = hup.recv() => "SIGHUP",
                _ = quit.recv() => "SIGQUIT",
            };
            tracing::info!(signal = name, "leaving the console");
            let _ = tx.send(Msg::Quit);
        }))
    }
    #[cfg(not(unix))]
    {
        Ok(tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            let _ = tx.send(Msg::Quit);
        }))
    }
}

/// Notices a terminal that went away without a signal reaching us (the SSH session dropped
/// and the login shell did not pass SIGHUP on). crossterm's reader does not report that (it
/// retries the failing read), so once a second the loop asks whether stdin / stdout are still
/// terminals: on a hung-up tty that check fails.
pub fn spawn_hangup_watch(tx: UnboundedSender<Msg>) -> JoinHandle<()> {
    use std::io::IsTerminal;
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
                tracing::info!("the terminal hung up; leaving the console");
                let _ = tx.send(Msg::Quit);
                return;
            }
        }
    })
}
