//! Plugs the core's runtime into webrtc-rs: tasks go to our tokio runtime (not whichever one the
//! caller happens to be in), and every UDP socket gets large kernel buffers.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

/// webrtc-rs's own tokio adapter uses the ambient runtime; this one enters ours first.
#[derive(Debug)]
pub(crate) struct IoAdapter {
    handle: Handle,
    socket_buffer_size: usize,
    // webrtc-rs 0.21 queues a packet for a TURN relay after the relayer's write queue was
    // drained, and nothing wakes its loop for it: it leaves on the next timer, 50-250 ms later.
    // Capping the loop's sleep bounds that wait; only connections with a TURN server use it.
    max_sleep: Option<Duration>,
}

static TOKIO: TokioRuntime = TokioRuntime;

impl IoAdapter {
    pub(crate) fn new(handle: Handle, socket_buffer_size: usize) -> Self {
        IoAdapter {
            handle,
            socket_buffer_size,
            max_sleep: None,
        }
    }

    /// The same adapter with its timers capped at `max_sleep`.
    pub(crate) fn paced(&self, max_sleep: Duration) -> Self {
        IoAdapter {
            handle: self.handle.clone(),
            socket_buffer_size: self.socket_buffer_size,
            max_sleep: Some(max_sleep),
        }
    }
}

struct Task(tokio::task::JoinHandle<()>);

impl JoinHandle for Task {
    fn detach(&self) {}

    fn abort(&self) {
        self.0.abort();
    }

    fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Runtime for IoAdapter {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        Box::new(Task(self.handle.spawn(future)))
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let sock = socket2::SockRef::from(&socket);
        // Best effort: the kernel caps the size at its own limit and that is still better.
        let _ = sock.set_recv_buffer_size(self.socket_buffer_size);
        let _ = sock.set_send_buffer_size(self.socket_buffer_size);
        let _entered = self.handle.enter();
        TOKIO.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        let _entered = self.handle.enter();
        TOKIO.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> BoxFuture<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        let _entered = self.handle.enter();
        TOKIO.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        let _entered = self.handle.enter();
        TOKIO.resolve_host(host)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let _entered = self.handle.enter();
        let duration = self.max_sleep.map_or(duration, |cap| duration.min(cap));
        TOKIO.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        let _entered = self.handle.enter();
        TOKIO.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        // Only reachable from outside the runtime; inside it blocking would deadlock a worker.
        if Handle::try_current().is_err() {
            self.handle.block_on(future);
        }
    }

    fn yield_now(&self) -> BoxFuture<'static, ()> {
        TOKIO.yield_now()
    }

    fn name(&self) -> &'static str {
        "webrtc-mesh"
    }
}
