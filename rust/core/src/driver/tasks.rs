//! The tasks a connection runs on the runtime: one reading each socket, one running the
//! protocol's timers, and one resolving its servers' names when there are any.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::BytesMut;

use std::sync::atomic::Ordering;

use super::gather::{self, Unresolved};
use super::sockets::read_some;
use super::{Driver, READ_BATCH};
use crate::state::ConnectionState;

/// Reads one socket: what is waiting (several datagrams per system call where the kernel
/// batches), then one pass of the protocol over them. A datagram from a server is its TURN
/// client's; the rest are the session's.
pub(super) async fn read_loop(driver: Weak<Driver>, index: usize) {
    let Some(socket) = driver.upgrade().map(|d| d.sockets[index].recv.clone()) else {
        return;
    };
    let mut batch: Vec<(BytesMut, SocketAddr)> = Vec::with_capacity(READ_BATCH);
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        let Some(driver) = driver.upgrade() else {
            return;
        };
        let local = driver.sockets[index].local;
        while batch.len() < READ_BATCH && read_some(&driver.sockets[index], &mut batch) {}
        if batch.is_empty() {
            continue;
        }
        let mut core = driver.core.lock();
        if core.closed {
            return;
        }
        let now = Instant::now();
        for (message, peer_addr) in batch.drain(..) {
            let datagram = super::tagged(now, local, peer_addr, message);
            if let Some(datagram) = core.servers.handle_read(datagram) {
                driver.receive(&mut core, datagram);
            }
        }
        driver.settle(&mut core);
    }
}

/// Runs the protocol's timers when they are due, and a pass whenever woken. Holds the driver
/// until [`Driver::close`] aborts it.
pub(super) async fn timer_loop(driver: Arc<Driver>) {
    loop {
        let notified = driver.wake.notified();
        let deadline = driver.core.lock().deadline;
        match deadline {
            Some(deadline) => {
                let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
                tokio::select! {
                    _ = sleep => {}
                    _ = notified => {}
                }
            }
            None => notified.await,
        }
        let mut core = driver.core.lock();
        if core.closed {
            return;
        }
        let now = Instant::now();
        if core
            .connect_deadline
            .is_some_and(|deadline| deadline <= now)
        {
            // Never left connecting: the connection fails, its owner (a mesh) reports the peer.
            let _ =
                driver
                    .shared
                    .connection
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                        (old != ConnectionState::Closed as i32)
                            .then_some(ConnectionState::Failed as i32)
                    });
            log::warn!(
                "a connection did not connect within {:?}; it failed",
                core.connect_timeout
            );
            drop(core);
            driver.close();
            return;
        }
        if core.deadline.is_some_and(|deadline| deadline <= now) {
            if core.pc.poll_timeout().is_some_and(|due| due <= now) {
                core.pc.handle_timeout(now);
            }
            if core.servers.poll_timeout().is_some_and(|due| due <= now) {
                core.servers.handle_timeout(now);
            }
        }
        driver.settle(&mut core);
    }
}

/// Resolves the servers' names and hands them to the driver, which asks them if gathering has
/// begun (or as soon as it does).
pub(super) async fn resolve(driver: Weak<Driver>, servers: Vec<Unresolved>) {
    let (targets, problems) = gather::resolve(servers).await;
    for problem in problems {
        log::warn!("ICE server {problem}");
    }
    let Some(driver) = driver.upgrade() else {
        return;
    };
    let mut core = driver.core.lock();
    if core.closed {
        return;
    }
    core.targets.extend(targets);
    core.resolving = false;
    driver.settle(&mut core);
}

/// Hands a message a TURN server sent over its stream to the server's client, as if read from
/// the socket that client speaks for. False once the connection is gone (the stream then ends).
pub(super) fn stream_received(driver: &Weak<Driver>, from: SocketAddr, message: BytesMut) -> bool {
    let Some(driver) = driver.upgrade() else {
        return false;
    };
    // The stream's client speaks for the first local socket of its family (see
    // `Servers::start`); its address is IPv4.
    let Some(local) = driver
        .sockets
        .iter()
        .find(|s| s.local.is_ipv4())
        .map(|s| s.local)
    else {
        return false;
    };
    let mut core = driver.core.lock();
    if core.closed {
        return false;
    }
    let now = Instant::now();
    let datagram = super::tagged(now, local, from, message);
    if core.servers.handle_read(datagram).is_some() {
        log::debug!("a TURN stream brought a message no request of ours awaits; dropped");
    }
    driver.settle(&mut core);
    true
}
