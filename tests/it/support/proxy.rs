//! A TCP proxy in front of the real PostgreSQL, to break the path the ways networks do: refuse
//! new connections, cut every connection, or go silent on the open ones (no FIN, no RST: a hung
//! pooler, a dropped NAT entry) while new ones work.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Default)]
struct Shared {
    /// Connections accepted before the current generation forward nothing any more.
    generation: AtomicU64,
    refusing: AtomicBool,
    /// Proxied connections.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    generation: u64,
    shared: Arc<Shared>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if shared.generation.load(Ordering::SeqCst) != generation {
            // Silent: keep both sockets open, forward nothing, never close.
            let _keep = (from, to);
            std::future::pending::<()>().await;
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    /// Listens on a free port and forwards to `target` (`host:port`).
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("binding the proxy port");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let s = Arc::clone(&shared);
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if s.refusing.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let generation = s.generation.load(Ordering::SeqCst);
                let s2 = Arc::clone(&s);
                let conn = tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else { return };
                    let (ir, iw) = inbound.into_split();
                    let (or, ow) = outbound.into_split();
                    tokio::join!(pump(ir, ow, generation, Arc::clone(&s2)), pump(or, iw, generation, s2));
                });
                s.tasks.lock().unwrap().push(conn);
            }
        });
        Proxy { port, shared, accept }
    }

    /// The URL `url` rewritten to go through the proxy.
    pub fn url(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).unwrap();
        u.set_host(Some("127.0.0.1")).unwrap();
        u.set_port(Some(self.port)).unwrap();
        u.to_string()
    }

    /// Open connections go silent; new ones are still forwarded.
    pub fn silence_open_connections(&self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// New connections are closed as soon as they are accepted (or forwarded again).
    pub fn refuse_new(&self, refuse: bool) {
        self.shared.refusing.store(refuse, Ordering::SeqCst);
    }

    /// Closes every connection and refuses new ones, like a database host going away, until
    /// `refuse_new(false)`.
    pub fn cut(&self) {
        self.refuse_new(true);
        for t in self.shared.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// Where `url` (a PostgreSQL URL) points, as `host:port`.
pub fn target_of(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(5432))
}
