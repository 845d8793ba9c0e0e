//! A local HTTP endpoint standing in for the webhook Edge Function: answers every request with a
//! settable status after a settable delay, and can be stopped and started again on the same port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[derive(Default)]
struct Behaviour {
    status: AtomicU16,
    delay_ms: AtomicU64,
}

pub struct Endpoint {
    pub addr: SocketAddr,
    behaviour: Arc<Behaviour>,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Endpoint {
    /// Starts on a free port, answering `status`.
    pub async fn start(status: u16) -> Endpoint {
        let behaviour = Arc::new(Behaviour::default());
        behaviour.status.store(status, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the test endpoint");
        let addr = listener.local_addr().unwrap();
        let mut endpoint = Endpoint { addr, behaviour, server: None };
        endpoint.serve(listener);
        endpoint
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let behaviour = Arc::clone(&self.behaviour);
        let app = axum::Router::new().fallback(move || {
            let behaviour = Arc::clone(&behaviour);
            async move {
                let delay = behaviour.delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
                let status = StatusCode::from_u16(behaviour.status.load(Ordering::SeqCst)).unwrap();
                (status, "test endpoint\n")
            }
        });
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("serving the test endpoint");
        });
        self.server = Some((stop_tx, task));
    }

    pub fn url(&self) -> String {
        format!("http://{}/functions/v1/dynamics-webhook", self.addr)
    }

    pub fn set_status(&self, status: u16) {
        self.behaviour.status.store(status, Ordering::SeqCst);
    }

    pub fn set_delay(&self, delay: Duration) {
        self.behaviour.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Stops listening and closes every connection; connecting is then refused.
    pub async fn stop(&mut self) {
        if let Some((stop, task)) = self.server.take() {
            let _ = stop.send(());
            task.await.expect("the test endpoint stops");
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        assert!(self.server.is_none(), "the endpoint is running");
        let listener =
            tokio::net::TcpListener::bind(self.addr).await.expect("binding the test endpoint again");
        self.serve(listener);
    }
}
