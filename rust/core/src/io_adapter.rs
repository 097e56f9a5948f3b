//! Plugs the core's runtime into webrtc-rs: tasks go to our tokio runtime (not whichever one the
//! caller happens to be in), every UDP socket gets large kernel buffers, and a connection's
//! sockets can be made to deliver a wake-up datagram (see [`DriverKick`]).

use std::future::Future;
use std::io;
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::runtime::Handle;
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    TokioRuntime, Transmit,
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
    // Set on a connection's own adapter: its UDP sockets can be kicked.
    kick: Option<Arc<DriverKick>>,
}

static TOKIO: TokioRuntime = TokioRuntime;

impl IoAdapter {
    pub(crate) fn new(handle: Handle, socket_buffer_size: usize) -> Self {
        IoAdapter {
            handle,
            socket_buffer_size,
            max_sleep: None,
            kick: None,
        }
    }

    /// The same adapter for one connection, whose sockets `kick` can wake.
    pub(crate) fn for_connection(&self, kick: Arc<DriverKick>) -> Self {
        IoAdapter {
            handle: self.handle.clone(),
            socket_buffer_size: self.socket_buffer_size,
            max_sleep: self.max_sleep,
            kick: Some(kick),
        }
    }

    /// The same adapter with its timers capped at `max_sleep`.
    pub(crate) fn paced(&self, max_sleep: Duration) -> Self {
        IoAdapter {
            handle: self.handle.clone(),
            socket_buffer_size: self.socket_buffer_size,
            max_sleep: Some(max_sleep),
            kick: self.kick.clone(),
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
        let socket = TOKIO.wrap_udp_socket(socket)?;
        // The mDNS socket (multicast) never carries a connection's data; no need to kick it.
        let multicast = socket.local_addr().is_ok_and(|a| a.ip().is_multicast());
        Ok(match &self.kick {
            Some(kick) if !multicast => Arc::new(KickableSocket {
                slot: kick.register(),
                inner: socket,
            }),
            _ => socket,
        })
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
        let sleep = TOKIO.sleep(duration);
        let Some(kick) = self.kick.clone() else {
            return sleep;
        };
        // Checked when the driver first polls the timer, and taken only then: if its select
        // returns another branch without polling this one, the next pass's timer ends at once.
        Box::pin(async move {
            if kick.expire_timer.swap(false, Ordering::AcqRel) {
                return;
            }
            sleep.await
        })
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

/// Makes webrtc-rs's driver of one connection take one more pass, for work it would otherwise
/// leave until a later datagram or timer.
///
/// Reads: webrtc-rs 0.21.1 stops moving a channel's received messages out of SCTP while 256 of them
/// wait for the application, and moves the rest only when the next datagram arrives: its driver
/// takes messages through `poll_data_read`, which never refills from SCTP. At the end of a burst
/// nothing else arrives until a keepalive, so the last messages waited ~1.8 s. A kick hands the
/// driver a one-byte datagram that no protocol accepts (its first byte is outside RFC 7983's ranges
/// and it comes from the unspecified address, which is no candidate); handling it runs the refill.
/// Only the kick's wake-up matters: the datagram itself is dropped.
///
/// Timers: packets that its protocol layers queue on their own (a DTLS handshake started when
/// ICE connects) wait for the driver's next timer. The pass after a timer kick finds its sleep
/// already over, and handling the timers sends them.
#[derive(Debug, Default)]
pub(crate) struct DriverKick {
    slots: Mutex<Vec<Arc<KickSlot>>>,
    // The driver's next sleep ends at once.
    expire_timer: AtomicBool,
}

#[derive(Debug, Default)]
struct KickSlot {
    pending: AtomicBool,
    // The driver's task, as of its last read that found nothing.
    waker: Mutex<Option<Waker>>,
}

/// First byte of the kick datagram: above RTP/RTCP's 128-191, so every layer drops it.
const KICK_BYTE: u8 = 0xff;

impl DriverKick {
    fn register(&self) -> Arc<KickSlot> {
        let slot = Arc::new(KickSlot::default());
        let mut slots = self.slots.lock();
        // Sockets replaced by an ICE restart are gone; forget them.
        slots.retain(|slot| Arc::strong_count(slot) > 1);
        slots.push(slot.clone());
        slot
    }

    /// Makes the driver run its timers (all of them: each layer acts only on what is due).
    pub(crate) fn wake_timers(&self) {
        self.expire_timer.store(true, Ordering::Release);
        self.wake_reads();
    }

    /// Delivers a kick datagram on each of the connection's sockets.
    pub(crate) fn wake_reads(&self) {
        for slot in self.slots.lock().iter() {
            slot.pending.store(true, Ordering::Release);
            let waker = slot.waker.lock().take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

#[derive(Debug)]
struct KickableSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    slot: Arc<KickSlot>,
}

impl AsyncUdpSocket for KickableSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        self.inner.poll_send(cx, transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        // Waker first, flag second: a kick that comes between them finds the waker.
        {
            let mut waker = self.slot.waker.lock();
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
        }
        if let (Some(buf), Some(m)) = (bufs.first_mut(), meta.first_mut())
            && !buf.is_empty()
            && self.slot.pending.swap(false, Ordering::AcqRel)
        {
            buf[0] = KICK_BYTE;
            let unspecified = match self.inner.local_addr() {
                Ok(SocketAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            };
            *m = RecvMeta::default();
            m.addr = SocketAddr::new(unspecified, 0);
            m.len = 1;
            m.stride = 1;
            return Poll::Ready(Ok(1));
        }
        self.inner.poll_recv(cx, bufs, meta)
    }

    fn max_gso_segments(&self) -> usize {
        self.inner.max_gso_segments()
    }

    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }
}
