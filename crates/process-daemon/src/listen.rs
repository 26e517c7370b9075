//! Where the daemon listens: [`ListenAddr`] (`HOST:PORT`, `unix:PATH`, or an inherited
//! listening socket) and the bound [`Listener`].

use std::fmt;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::str::FromStr;

use tokio::net::{TcpListener, UnixListener};

/// A listen address as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListenAddr {
    /// `HOST:PORT` (port 0 picks a free port).
    Tcp(SocketAddr),
    /// `unix:PATH`: a Unix socket (a stale socket file at `PATH` is replaced).
    Unix(PathBuf),
}

impl ListenAddr {
    /// Whether only this machine can reach the address (loopback TCP, or a Unix socket).
    pub fn is_local(&self) -> bool {
        match self {
            ListenAddr::Tcp(addr) => addr.ip().is_loopback(),
            ListenAddr::Unix(_) => true,
        }
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<ListenAddr, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a socket path, e.g. unix:/run/processd.sock".into());
            }
            return Ok(ListenAddr::Unix(path.into()));
        }
        s.parse().map(ListenAddr::Tcp).map_err(|_| {
            format!("invalid listen address {s:?}: expected HOST:PORT (e.g. 127.0.0.1:2280) or unix:PATH")
        })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "http://{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A bound listening socket the daemon accepts connections on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Listener {
    /// A TCP socket.
    Tcp(TcpListener),
    /// A Unix socket.
    Unix(UnixListener),
}

impl Listener {
    /// Binds `addr`. For `unix:PATH` a stale socket file is removed first.
    pub async fn bind(addr: &ListenAddr) -> std::io::Result<Listener> {
        match addr {
            ListenAddr::Tcp(addr) => TcpListener::bind(addr).await.map(Listener::Tcp),
            ListenAddr::Unix(path) => {
                if std::fs::symlink_metadata(path)
                    .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
                {
                    std::fs::remove_file(path)?;
                }
                UnixListener::bind(path).map(Listener::Unix)
            }
        }
    }

    /// Adopts an already-listening socket (TCP or Unix), e.g. one a supervisor passed down.
    /// Must be called inside a tokio runtime.
    pub fn from_fd(fd: OwnedFd) -> std::io::Result<Listener> {
        let tcp = std::net::TcpListener::from(fd);
        if tcp.local_addr().is_ok() {
            tcp.set_nonblocking(true)?;
            return TcpListener::from_std(tcp).map(Listener::Tcp);
        }
        let unix = std::os::unix::net::UnixListener::from(OwnedFd::from(tcp));
        unix.local_addr()?;
        unix.set_nonblocking(true)?;
        UnixListener::from_std(unix).map(Listener::Unix)
    }

    /// The bound address (a Unix socket without a path shows as `unix:`).
    pub fn local_addr(&self) -> std::io::Result<ListenAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().map(ListenAddr::Tcp),
            Listener::Unix(l) => Ok(ListenAddr::Unix(
                l.local_addr()?
                    .as_pathname()
                    .map(PathBuf::from)
                    .unwrap_or_default(),
            )),
        }
    }
}

impl From<TcpListener> for Listener {
    fn from(l: TcpListener) -> Listener {
        Listener::Tcp(l)
    }
}

impl From<UnixListener> for Listener {
    fn from(l: UnixListener) -> Listener {
        Listener::Unix(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        assert_eq!(
            "127.0.0.1:2280".parse::<ListenAddr>(),
            Ok(ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], 2280))))
        );
        assert_eq!(
            "unix:/run/p.sock".parse::<ListenAddr>(),
            Ok(ListenAddr::Unix("/run/p.sock".into()))
        );
        assert!("unix:".parse::<ListenAddr>().is_err());
        assert!("localhost".parse::<ListenAddr>().is_err());
        assert!("0.0.0.0:1"
            .parse::<ListenAddr>()
            .is_ok_and(|a| !a.is_local()));
        assert!("[::1]:1".parse::<ListenAddr>().is_ok_and(|a| a.is_local()));
    }

    #[tokio::test]
    async fn an_inherited_socket_is_adopted_whatever_its_family() {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap();
        let l = Listener::from_fd(OwnedFd::from(tcp)).unwrap();
        assert_eq!(l.local_addr().unwrap(), ListenAddr::Tcp(addr));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let l = Listener::from_fd(OwnedFd::from(unix)).unwrap();
        assert_eq!(l.local_addr().unwrap(), ListenAddr::Unix(path));
    }
}
