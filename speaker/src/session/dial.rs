//! Outbound connection attempts (RFC 4271 §8.2.1 "initiates a TCP connection").

use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::messages::Input;

/// A running connection attempt; dropping it abandons the attempt.
#[derive(Debug)]
pub struct DialAttempt {
    /// Attempt number, echoed in [`Input::Dialed`].
    pub attempt: u64,
    task: JoinHandle<()>,
}

impl Drop for DialAttempt {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts connecting to `remote` from `local` (port chosen by the kernel); the outcome arrives as
/// [`Input::Dialed`].
pub fn spawn(
    peer: IpAddr,
    attempt: u64,
    remote: SocketAddr,
    local: Option<IpAddr>,
    owner: mpsc::Sender<Input>,
) -> DialAttempt {
    let task = tokio::spawn(async move {
        let result = connect(remote, local)
            .await
            .map_err(|e| format!("connect to {remote} failed: {e}"));
        let _ = owner
            .send(Input::Dialed {
                peer,
                attempt,
                result,
            })
            .await;
    });
    DialAttempt { attempt, task }
}

async fn connect(remote: SocketAddr, local: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = if remote.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(local) = local {
        // SO_REUSEADDR lets several sessions share the source address quickly after restarts.
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::new(local, 0))?;
    }
    let stream = socket.connect(remote).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
