//! The tokio runtime the core owns: started on first use, shared by every connection, stopped
//! when the last connection using it is gone.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use rtc::peer_connection::certificate::{CertificateParams, RTCCertificate};
use tokio::runtime::Handle;

use crate::budget::Budget;
use crate::conditions::NetworkConditions;
use crate::config::MIN_RECEIVE_BUDGET;
use crate::error::{Error, Result};

/// Default name of the runtime's threads (visible in debuggers and `top -H`).
pub const THREAD_NAME: &str = "webrtc-mesh";

/// How long dropping the last handle waits for tasks to stop before leaving them behind.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(300);

/// Settings of the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Worker threads. One or two suit a game: every connection's work stays on few threads
    /// and the game keeps the other cores. The default is two where there are two cores or
    /// more: in-process throughput is ~1.5x that of one worker. On a two-core machine whose
    /// game thread never sleeps, one worker keeps the round-trip tail short: with two, the
    /// three busy threads share two cores and ~1% of round trips wait a scheduler slice
    /// (p99 ~3.6 ms in 4 of 10 runs, against 0.10-0.14 ms with one worker in every run).
    pub worker_threads: usize,
    /// `SO_RCVBUF`/`SO_SNDBUF` for every UDP socket. Linux's ~200 KiB default overflows under
    /// bursts and costs seconds in SCTP loss recovery.
    pub socket_buffer_size: usize,
    /// Name of the runtime's threads (at most 15 bytes show on Linux).
    pub thread_name: String,
    /// Bytes of received messages that may wait unread on all of this runtime's connections
    /// together; each connection also has its own
    /// ([`ConnectionConfig::receive_budget`](crate::ConnectionConfig::receive_budget)). 64 MiB
    /// by default: sixteen connections at their full 4 MiB, so a mesh of 16 players never meets
    /// it, while many peers flooding at once cannot take more than that of a player's memory.
    pub receive_budget: usize,
    /// Delay, loss and outages applied to what every connection of this runtime sends (those
    /// with conditions of their own use theirs): a whole game on a bad link.
    pub network_conditions: NetworkConditions,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        RuntimeConfig {
            worker_threads: cores.clamp(1, 2),
            socket_buffer_size: 4 * 1024 * 1024,
            thread_name: THREAD_NAME.to_owned(),
            receive_budget: 64 * 1024 * 1024,
            network_conditions: NetworkConditions::default(),
        }
    }
}

struct Inner {
    // `Option` so it can be moved out and shut down with a timeout, by `Drop` or by
    // `Runtime::shutdown_shared`.
    tokio: Mutex<Option<tokio::runtime::Runtime>>,
    handle: Handle,
    // Largest SCTP receive window the sockets' kernel buffers can back; see `window_cap`.
    receive_window_cap: usize,
    // The DTLS certificate every connection presents; see `Runtime::certificate`.
    certificate: Mutex<Option<RTCCertificate>>,
    socket_buffer_size: usize,
    // What every connection's receive budget is also charged to.
    receive_budget: Arc<Budget>,
    network_conditions: NetworkConditions,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Inner {
    fn stop(&self) {
        let tokio = self.tokio.lock().take();
        if let Some(tokio) = tokio {
            if Handle::try_current().is_ok() {
                // Dropped from inside a runtime (a task held the last handle): blocking here would
                // panic, so let the threads wind down on their own.
                tokio.shutdown_background();
            } else {
                tokio.shutdown_timeout(SHUTDOWN_TIMEOUT);
            }
        }
    }
}

/// A handle to the core's tokio runtime. Cheap to clone; the runtime stops when the last clone
/// (and with it the last connection) is dropped.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

static SHARED: Mutex<Weak<Inner>> = Mutex::new(Weak::new());

// Settings the shared runtime starts with; `None` means the defaults.
static SHARED_CONFIG: Mutex<Option<RuntimeConfig>> = Mutex::new(None);

impl Runtime {
    /// The process-wide runtime, started if none is running, with the settings given to
    /// [`Runtime::configure_shared`] or else the defaults.
    pub fn shared() -> Result<Runtime> {
        let mut shared = SHARED.lock();
        if let Some(inner) = shared.upgrade() {
            return Ok(Runtime { inner });
        }
        let config = SHARED_CONFIG.lock().clone().unwrap_or_default();
        let runtime = Runtime::new(&config)?;
        *shared = Arc::downgrade(&runtime.inner);
        Ok(runtime)
    }

    /// Sets what the shared runtime starts with. A runtime already running keeps its settings
    /// until it stops; returns false in that case.
    pub fn configure_shared(config: RuntimeConfig) -> bool {
        let shared = SHARED.lock();
        *SHARED_CONFIG.lock() = Some(config);
        shared.strong_count() == 0
    }

    /// Worker threads this runtime runs connections on.
    pub fn worker_threads(&self) -> usize {
        self.inner.handle.metrics().num_workers()
    }

    /// A runtime of its own, not shared with [`Runtime::shared`].
    pub fn new(config: &RuntimeConfig) -> Result<Runtime> {
        if config.receive_budget < MIN_RECEIVE_BUDGET {
            return Err(Error::InvalidConfig(format!(
                "a runtime receive budget of {} bytes is below the minimum of \
                 {MIN_RECEIVE_BUDGET}",
                config.receive_budget
            )));
        }
        config.network_conditions.validate()?;
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .max_blocking_threads(2)
            .thread_name(config.thread_name.clone())
            .enable_all()
            .build()?;
        let handle = tokio.handle().clone();
        Ok(Runtime {
            inner: Arc::new(Inner {
                tokio: Mutex::new(Some(tokio)),
                handle,
                receive_window_cap: window_cap(config.socket_buffer_size),
                certificate: Mutex::new(None),
                socket_buffer_size: config.socket_buffer_size,
                receive_budget: Budget::new(config.receive_budget, None),
                network_conditions: config.network_conditions.clone(),
            }),
        })
    }

    /// Stops the shared runtime now, even if connections still hold it (they were leaked, or
    /// the host is exiting): its threads must not outlive the code they run, e.g. when the
    /// library is about to be unloaded. Connections used after this report [`Error::Closed`].
    pub fn shutdown_shared() {
        let inner = std::mem::take(&mut *SHARED.lock()).upgrade();
        if let Some(inner) = inner {
            inner.stop();
        }
    }

    /// Whether a shared runtime is alive (some connection still uses it).
    pub fn shared_is_running() -> bool {
        SHARED.lock().strong_count() > 0
    }

    /// The tokio runtime underneath, for running other tasks of the application (signaling,
    /// for one) on the same threads. Tasks spawned on it do not keep the runtime alive.
    pub fn tokio_handle(&self) -> &Handle {
        &self.inner.handle
    }

    /// The DTLS certificate of every connection on this runtime, made on first use. A
    /// certificate per connection is a key pair and a signature each: a 16-peer mesh makes 240. Peers identify it by the fingerprint in the SDP, as with one per
    /// connection. `None` if it cannot be made; each connection then makes its own.
    pub(crate) fn certificate(&self) -> Option<RTCCertificate> {
        let mut slot = self.inner.certificate.lock();
        let lasts = slot.as_ref().is_some_and(|certificate| {
            certificate
                .expires
                .duration_since(SystemTime::now())
                .is_ok_and(|left| left > CERTIFICATE_RENEWAL)
        });
        if !lasts {
            *slot = make_certificate();
        }
        slot.clone()
    }

    /// `SO_RCVBUF`/`SO_SNDBUF` asked for every UDP socket.
    pub(crate) fn socket_buffer_size(&self) -> usize {
        self.inner.socket_buffer_size
    }

    /// Bytes of received messages waiting unread on every connection of this runtime.
    pub fn received_bytes_waiting(&self) -> usize {
        self.inner.receive_budget.used()
    }

    /// A new connection's receive budget of `limit` bytes, drawn from this runtime's too.
    pub(crate) fn connection_budget(&self, limit: usize) -> Arc<Budget> {
        Budget::new(limit, Some(self.inner.receive_budget.clone()))
    }

    /// The network conditions every connection without its own applies.
    pub fn network_conditions(&self) -> &NetworkConditions {
        &self.inner.network_conditions
    }

    /// Largest SCTP receive window the kernel's socket buffers can back on this machine.
    pub(crate) fn receive_window_cap(&self) -> usize {
        self.inner.receive_window_cap
    }
}

/// A certificate this close to its expiry is replaced for new connections.
const CERTIFICATE_RENEWAL: Duration = Duration::from_secs(24 * 3600);

pub(crate) fn make_certificate() -> Option<RTCCertificate> {
    let provider = rtc::crypto::default_provider().ok()?;
    let params = CertificateParams::new(vec!["webrtc-mesh".to_owned()]).ok()?;
    RTCCertificate::generate(
        provider.crypto(),
        rtc::crypto::SignatureScheme::EcdsaP256Sha256,
        params,
    )
    .ok()
}

/// The receive window that the kernel can hold in flight for one socket. A window larger than
/// the socket buffer lets a burst overflow it (seen here: 3,400 datagrams dropped per 16 KiB
/// transfer with a 4 MiB window and a 4 MiB buffer), and each loss costs SCTP a retransmission
/// timeout. The kernel reports twice the buffer it grants (`net.core.rmem_max` caps it: often
/// 208 KiB) and charges a ~1.2 KB datagram well over 2 KB, so a quarter of the report is what
/// payload fits.
fn window_cap(socket_buffer_size: usize) -> usize {
    const FLOOR: usize = 128 * 1024;
    let granted = std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .and_then(|socket| {
            let sock = socket2::SockRef::from(&socket);
            sock.set_recv_buffer_size(socket_buffer_size)?;
            sock.recv_buffer_size()
        })
        .unwrap_or(0);
    (granted / 4).max(FLOOR)
}
