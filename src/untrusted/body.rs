//! Reading a response body without trusting its length. `reqwest::Response::bytes()` keeps
//! whatever arrives: a server (or anything on a plain-HTTP path) that streams without end
//! makes the process abort on allocation failure. Every body kubemaas reads goes through
//! [`read_body`] with a bound chosen for what the answer can legitimately hold, or through
//! [`read_prefix`] when only its start is ever shown (error pages).

use bytes::{Bytes, BytesMut};
use std::fmt;

/// A size in bytes that prints as an operator reads it: `256 MiB`, `64 KiB`, `500 bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub usize);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KIB: usize = 1024;
        const MIB: usize = 1024 * KIB;
        match self.0 {
            n if n >= MIB && n % MIB == 0 => write!(f, "{} MiB", n / MIB),
            n if n >= KIB && n % KIB == 0 => write!(f, "{} KiB", n / KIB),
            n => write!(f, "{n} bytes"),
        }
    }
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The answer is longer than anything this endpoint legitimately sends.
    #[error("{url} answered with more than {limit} (the most kubemaas reads from it): something other than the expected server may be answering there, or it is misbehaving")]
    TooLarge { url: String, limit: ByteSize },
    /// The connection failed or timed out mid-body.
    #[error("reading the answer of {url} failed: {source}")]
    Read {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

impl BodyError {
    /// True when the bound was exceeded (as opposed to a broken or timed-out connection).
    pub fn is_too_large(&self) -> bool {
        matches!(self, BodyError::TooLarge { .. })
    }

    /// The transport error, when the body broke off.
    pub fn transport(&self) -> Option<&reqwest::Error> {
        match self {
            BodyError::Read { source, .. } => Some(source),
            BodyError::TooLarge { .. } => None,
        }
    }
}

/// The whole body, or [`BodyError::TooLarge`] as soon as more than `limit` bytes are announced
/// (`Content-Length`) or have arrived: never more than `limit` plus one chunk is held.
pub async fn read_body(response: reqwest::Response, limit: usize) -> Result<Bytes, BodyError> {
    let url = display_url(&response);
    let too_large = || BodyError::TooLarge {
        url: url.clone(),
        limit: ByteSize(limit),
    };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let (body, complete) = read_up_to(response, limit)
        .await
        .map_err(|source| BodyError::Read {
            url: url.clone(),
            source,
        })?;
    if complete {
        Ok(body)
    } else {
        Err(too_large())
    }
}

/// At most the first `limit` bytes of the body; the rest is never read (the connection is
/// dropped with the response). For answers of which only the start is shown, such as an
/// error page quoted in a message.
pub async fn read_prefix(response: reqwest::Response, limit: usize) -> Result<Bytes, BodyError> {
    let url = display_url(&response);
    read_up_to(response, limit)
        .await
        .map(|(body, _)| body)
        .map_err(|source| BodyError::Read { url, source })
}

/// Chunks until the end of the body or until more than `limit` bytes came: the bytes kept
/// (at most `limit`) and whether that was the whole body.
async fn read_up_to(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<(Bytes, bool), reqwest::Error> {
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body.freeze(), false));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body.freeze(), true))
}

/// The URL an error names: without its query (MAAS's carries no secret, but signed or
/// tokenised URLs elsewhere might) and without user info.
fn display_url(response: &reqwest::Response) -> String {
    let mut url = response.url().clone();
    url.set_query(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server on 127.0.0.1 answering every connection with a 200 whose chunked body never
    /// ends (or, with `length`, a body of that length).
    async fn server(length: Option<usize>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    match length {
                        Some(n) => {
                            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n");
                            let _ = socket.write_all(head.as_bytes()).await;
                            let _ = socket.write_all(&vec![b'a'; n]).await;
                        }
                        None => {
                            let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
                            if socket.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            let chunk = format!("4000\r\n{}\r\n", "x".repeat(0x4000));
                            while socket.write_all(chunk.as_bytes()).await.is_ok() {}
                        }
                    }
                });
            }
        });
        format!("http://{addr}/endless?token=secret")
    }

    async fn get(url: &str) -> reqwest::Response {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(url)
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn an_endless_body_is_an_error_naming_the_url_and_the_bound() {
        let url = server(None).await;
        let err = read_body(get(&url).await, 1024 * 1024).await.unwrap_err();
        assert!(err.is_too_large(), "{err}");
        let text = err.to_string();
        assert!(text.contains("/endless"), "{text}");
        assert!(text.contains("1 MiB"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[tokio::test]
    async fn an_announced_length_over_the_bound_is_refused_before_reading() {
        let url = server(Some(5000)).await;
        let err = read_body(get(&url).await, 4096).await.unwrap_err();
        assert!(err.to_string().contains("4 KiB"), "{err}");
    }

    #[tokio::test]
    async fn a_body_within_the_bound_is_read_whole() {
        let url = server(Some(4096)).await;
        let body = read_body(get(&url).await, 4096).await.unwrap();
        assert_eq!(body.len(), 4096);
    }

    #[tokio::test]
    async fn a_prefix_stops_at_its_bound_even_on_an_endless_body() {
        let url = server(None).await;
        let body = read_prefix(get(&url).await, 1000).await.unwrap();
        assert_eq!(body.len(), 1000);
    }

    #[test]
    fn sizes_print_in_the_largest_whole_unit() {
        assert_eq!(ByteSize(256 * 1024 * 1024).to_string(), "256 MiB");
        assert_eq!(ByteSize(64 * 1024).to_string(), "64 KiB");
        assert_eq!(ByteSize(1500).to_string(), "1500 bytes");
    }
}
