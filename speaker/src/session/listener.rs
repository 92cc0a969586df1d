//! The BGP listening socket (RFC 4271 §8: passive TCP establishment on port 179).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc;

use crate::messages::Input;

/// Binds the listening socket with SO_REUSEADDR, so a restarted speaker can bind at once.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

/// Accepts connections forever and hands them to the owner loop, which matches them to
/// neighbors (and handles collisions, RFC 4271 §6.8).
pub async fn accept_loop(listener: TcpListener, owner: mpsc::Sender<Input>) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let Ok(local) = stream.local_addr() else {
                    continue;
                };
                // Small BGP messages (KEEPALIVE) must not wait for Nagle.
                let _ = stream.set_nodelay(true);
                if owner
                    .send(Input::Accepted {
                        stream,
                        remote,
                        local,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "BGP accept failed");
                // Pacing after errors like EMFILE, not a wait for a condition.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
