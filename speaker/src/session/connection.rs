//! One TCP connection: a reader task that frames messages and a writer task that sends bytes.
//!
//! The reader uses `frame_len` (RFC 4271 §4.1, §6.1): it forwards each complete message to the
//! owner, and reports a bad marker or length as [`ConnEnd::Framing`] and stops forwarding. It
//! frames up to 65535 octets; the owner's decoder enforces the negotiated maximum (4096 unless
//! RFC 8654 was negotiated) and answers with 1/2.
//!
//! Closing: dropping the [`ConnectionHandle`] closes the write queue, so the writer sends
//! everything queued (typically a NOTIFICATION) and then shuts down the write side (FIN). The
//! reader keeps reading and discarding for up to [`DRAIN_TIMEOUT`] until the peer closes too:
//! closing a socket with unread data makes the kernel send RST, and a peer receiving RST may drop
//! our NOTIFICATION before reading it.

use std::time::Duration;

use fabric_bgp_wire::frame_len_max;
use fabric_bgp_wire::header::MAX_EXTENDED_MESSAGE_LEN;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::messages::{ConnEnd, ConnId, Input};

/// How long a closing connection waits for the peer's FIN.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Bytes written per system call at most when coalescing queued messages.
const WRITE_BATCH: usize = 64 * 1024;

/// The owner's side of a connection.
#[derive(Debug)]
pub struct ConnectionHandle {
    /// Connection id.
    pub id: ConnId,
    out: mpsc::UnboundedSender<Vec<u8>>,
    close: Option<oneshot::Sender<()>>,
    reader: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
}

impl ConnectionHandle {
    /// Queues bytes for sending; false when the writer is gone.
    pub fn send(&self, bytes: Vec<u8>) -> bool {
        self.out.send(bytes).is_ok()
    }

    /// Closes the connection (flush, FIN, drain) and returns its tasks, to await at shutdown.
    pub fn close(mut self) -> Vec<JoinHandle<()>> {
        let tasks = [self.reader.take(), self.writer.take()]
            .into_iter()
            .flatten()
            .collect();
        drop(self);
        tasks
    }
}

impl Drop for ConnectionHandle {
    fn drop(&mut self) {
        if let Some(close) = self.close.take() {
            let _ = close.send(());
        }
    }
}

/// Starts the reader and writer tasks of a connection.
pub fn spawn(id: ConnId, stream: TcpStream, owner: mpsc::Sender<Input>) -> ConnectionHandle {
    let (rd, wr) = stream.into_split();
    let (out, out_rx) = mpsc::unbounded_channel();
    let (close, close_rx) = oneshot::channel();
    let reader = tokio::spawn(read_loop(id, rd, owner.clone(), close_rx));
    let writer = tokio::spawn(write_loop(id, wr, out_rx, owner));
    ConnectionHandle {
        id,
        out,
        close: Some(close),
        reader: Some(reader),
        writer: Some(writer),
    }
}

async fn read_loop(
    id: ConnId,
    mut rd: OwnedReadHalf,
    owner: mpsc::Sender<Input>,
    mut close: oneshot::Receiver<()>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(2 * WRITE_BATCH);
    let mut chunk = vec![0u8; WRITE_BATCH];
    let mut framing_failed = false;
    loop {
        let n = tokio::select! {
            _ = &mut close => break,
            r = rd.read(&mut chunk) => r,
        };
        let n = match n {
            Ok(0) => {
                let _ = owner
                    .send(Input::ConnClosed {
                        conn: id,
                        reason: ConnEnd::Eof,
                    })
                    .await;
                return;
            }
            Err(e) => {
                let reason = ConnEnd::Io(format!("read failed: {e}"));
                let _ = owner.send(Input::ConnClosed { conn: id, reason }).await;
                return;
            }
            Ok(n) => n,
        };
        if framing_failed {
            continue;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let mut start = 0;
        loop {
            let rest = buf.get(start..).unwrap_or_default();
            match frame_len_max(rest, MAX_EXTENDED_MESSAGE_LEN) {
                Ok(Some(len)) => {
                    let frame = rest.get(..len).unwrap_or_default().to_vec();
                    start += len;
                    if owner.send(Input::Frame { conn: id, frame }).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    framing_failed = true;
                    let _ = owner
                        .send(Input::ConnClosed {
                            conn: id,
                            reason: ConnEnd::Framing(e),
                        })
                        .await;
                    break;
                }
            }
        }
        if framing_failed {
            buf = Vec::new();
        } else {
            buf.drain(..start.min(buf.len()));
        }
    }
    // Closing: drain until the peer's FIN (or the timeout) so our NOTIFICATION is not lost to RST.
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Ok(n) = rd.read(&mut chunk).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

async fn write_loop(
    id: ConnId,
    mut wr: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<Vec<u8>>,
    owner: mpsc::Sender<Input>,
) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Some(first) = queue.recv().await {
        batch.clear();
        batch.extend_from_slice(&first);
        // Coalesce what is already queued into one write.
        while batch.len() < WRITE_BATCH {
            match queue.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        if let Err(e) = wr.write_all(&batch).await {
            let reason = ConnEnd::Io(format!("write failed: {e}"));
            // try_send: the owner may have stopped reading at shutdown; never block here.
            let _ = owner.try_send(Input::ConnClosed { conn: id, reason });
            return;
        }
    }
    let _ = wr.shutdown().await;
}
