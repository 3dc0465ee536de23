//! Streaming answers of etcd's JSON gateway: a watch (or a lease keep-alive) answers one
//! HTTP response holding a sequence of `{"result": …}` objects (or a final `{"error": …}`),
//! each written as etcd sends it. They are read one at a time, within a bound.

use super::types::WatchResponse;
use super::EtcdError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// The most one streamed message may hold: a watch message lists the events of one
/// revision, and the log writes a few keys of at most 1 MiB per revision.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Reads a whole body, refusing one longer than `max` bytes.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| super::error_chain(&e))? {
        if out.len() + chunk.len() > max {
            return Err(format!("the answer is longer than {max} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// One message of the stream: a result, or the error that ended it.
#[derive(Deserialize)]
struct Frame {
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

/// The messages of a streaming call, in order.
pub struct WatchStream {
    endpoint: String,
    response: reqwest::Response,
    buffer: Vec<u8>,
    ended: bool,
}

impl WatchStream {
    pub(crate) fn new(endpoint: String, response: reqwest::Response) -> WatchStream {
        WatchStream {
            endpoint,
            response,
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// The next watch message; `None` when the stream ended.
    pub async fn message(&mut self) -> Result<Option<WatchResponse>, EtcdError> {
        self.next_value().await
    }

    /// The next message decoded as `T`; `None` when the stream ended.
    pub(crate) async fn next_value<T: DeserializeOwned>(&mut self) -> Result<Option<T>, EtcdError> {
        loop {
            if let Some(frame) = self.take_frame()? {
                if let Some(error) = frame.error {
                    let code = error.get("code").and_then(Value::as_i64);
                    let message = error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("the stream failed")
                        .to_string();
                    return Err(EtcdError::Refused {
                        endpoint: self.endpoint.clone(),
                        status: 200,
                        code,
                        message,
                    });
                }
                let result = frame.result.unwrap_or(Value::Null);
                return serde_json::from_value(result)
                    .map(Some)
                    .map_err(|e| self.answer(format!("an unreadable stream message ({e})")));
            }
            if self.ended {
                return if self.buffer.iter().all(u8::is_ascii_whitespace) {
                    Ok(None)
                } else {
                    Err(self.answer("the stream ended inside a message".to_string()))
                };
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => {
                    if self.buffer.len() + chunk.len() > MAX_MESSAGE {
                        return Err(self.answer(format!(
                            "a stream message is longer than {MAX_MESSAGE} bytes"
                        )));
                    }
                    self.buffer.extend_from_slice(&chunk);
                }
                Ok(None) => self.ended = true,
                Err(e) => {
                    return Err(EtcdError::Transport {
                        endpoint: self.endpoint.clone(),
                        detail: super::error_chain(&e),
                    })
                }
            }
        }
    }

    /// The first complete message in the buffer, removed from it; `None` while it is
    /// incomplete.
    fn take_frame(&mut self) -> Result<Option<Frame>, EtcdError> {
        let start = self
            .buffer
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(self.buffer.len());
        if start == self.buffer.len() {
            self.buffer.clear();
            return Ok(None);
        }
        let mut values =
            serde_json::Deserializer::from_slice(&self.buffer[start..]).into_iter::<Frame>();
        match values.next() {
            Some(Ok(frame)) => {
                let used = start + values.byte_offset();
                self.buffer.drain(..used);
                Ok(Some(frame))
            }
            Some(Err(e)) if e.is_eof() => Ok(None),
            Some(Err(e)) => Err(self.answer(format!("an unreadable stream message ({e})"))),
            None => Ok(None),
        }
    }

    fn answer(&self, detail: String) -> EtcdError {
        EtcdError::Answer {
            endpoint: self.endpoint.clone(),
            detail,
        }
    }
}
