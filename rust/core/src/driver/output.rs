//! What leaves a connection: the session's datagrams (through a TURN relay when sent
//! from one, resent when a handshake flight was lost), the servers' (over a socket or a TURN
//! stream), all through the network simulator when conditions are set, in segmented sends.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
use rtc::shared::TaggedBytesMut;

use super::sockets::Run;
use super::{Core, Driver, handshake};
use crate::conditions::{Datagram, LinkSimulator};

/// How many times each DTLS datagram leaves while the connection sets up: its handshake, then
/// SCTP's (INIT to COOKIE-ACK, inside DTLS). DTLS waits a whole second before sending a lost
/// flight again (fixed in `rtc`), so at 5% loss about one setup in three paid a second or
/// more; three copies make a lost step rare (0.0125% at 5% loss) for a few kilobytes.
/// The receiver drops the spare copies (DTLS replay protection, handshake sequence numbers).
const SETUP_COPIES: usize = 3;

impl Driver {
    /// Sends every queued datagram: the session's (through a relay when sent from
    /// one) and the servers'. Returns whether there was any.
    pub(super) fn flush(&self, core: &mut Core) -> bool {
        core.flush_pending = false;
        let mut any = false;
        // Datagrams of one size to one destination from one socket go out as one segmented
        // send: the kernel walks its stack once for the run, not once per datagram.
        let mut run = Run::default();
        let now = Instant::now();
        core.outbox.write(&mut core.pc, now);
        let due = core.copies.due(now);
        for (from, to, bytes) in core.probe.due(now).into_iter().chain(due) {
            any = true;
            let datagram = super::tagged(now, from, to, BytesMut::from(&bytes[..]));
            self.route(core, &mut run, now, datagram);
        }
        for (from, to, bytes) in std::mem::take(&mut core.resend) {
            any = true;
            let datagram = super::tagged(now, from, to, BytesMut::from(&bytes[..]));
            self.emit(core, &mut run, now, datagram);
        }
        while let Some((from, to, bytes)) = core.pc.poll_transmit(now) {
            any = true;
            let datagram = super::tagged(now, from, to, bytes);
            self.emit(core, &mut run, now, datagram);
        }
        core.copies.flushed();
        if core.opened {
            core.setting_up = false;
        }
        while let Some(datagram) = core.servers.poll_transmit() {
            any = true;
            match core
                .streams
                .iter()
                .find(|s| s.address == datagram.transport.peer_addr)
            {
                Some(stream) => stream.send(&datagram.message),
                None => self.push(&mut run, core.simulator.as_mut(), now, datagram),
            }
        }
        if let Some(simulator) = core.simulator.as_mut() {
            while let Some(due) = simulator.poll_due(now) {
                any = true;
                run.push(&self.sockets, self.socket_of(due.from), due.to, &due.bytes);
            }
            if simulator.idle_and_perfect() {
                core.simulator = None;
            }
        }
        run.send(&self.sockets);
        if any {
            core.last_flush = Instant::now();
        }
        any
    }

    /// After a pass: tells the probe how much reliable data is unacknowledged, and every few
    /// seconds the round trip the stats measured.
    pub(super) fn watch_reliable(&self, core: &mut Core) {
        let now = Instant::now();
        let mut outstanding = 0;
        for &id in core.channels.keys() {
            if core.pc.is_reliable(id) {
                outstanding += core.pc.buffered_amount(id);
            }
        }
        if outstanding > 0
            && let Some(rtt) = core.pc.round_trip()
        {
            core.probe.set_rtt(rtt);
        }
        core.probe.observe(outstanding, now);
    }

    /// Sends a datagram of the session: through its relay when sent from one.
    fn emit(&self, core: &mut Core, run: &mut Run, now: Instant, datagram: TaggedBytesMut) {
        let transport = datagram.transport;
        core.handshake
            .sent(transport.local_addr, transport.peer_addr, &datagram.message);
        let content = handshake::dtls_content(&datagram.message);
        if content == Some(handshake::APPLICATION_DATA) {
            core.probe.sent(
                transport.local_addr,
                transport.peer_addr,
                &datagram.message,
                now,
            );
            core.copies.sent(
                transport.local_addr,
                transport.peer_addr,
                &datagram.message,
                now,
            );
        }
        let copies = if core.setting_up && content.is_some() {
            SETUP_COPIES
        } else {
            1
        };
        for _ in 1..copies {
            let copy = super::tagged(
                datagram.now,
                transport.local_addr,
                transport.peer_addr,
                datagram.message.clone(),
            );
            self.route(core, run, now, copy);
        }
        self.route(core, run, now, datagram);
    }

    /// Sends a datagram of the session through its relay when sent from one, else
    /// from its socket.
    fn route(&self, core: &mut Core, run: &mut Run, now: Instant, datagram: TaggedBytesMut) {
        if core.servers.is_relay(datagram.transport.local_addr) {
            core.servers.send(datagram);
        } else {
            self.push(run, core.simulator.as_mut(), now, datagram);
        }
    }

    /// Sends a datagram from its socket, or hands it to the network simulator when one is set.
    fn push(
        &self,
        run: &mut Run,
        simulator: Option<&mut LinkSimulator>,
        now: Instant,
        datagram: rtc::shared::TaggedBytesMut,
    ) {
        let transport = datagram.transport;
        match simulator {
            Some(simulator) => simulator.send(
                now,
                Datagram {
                    from: transport.local_addr,
                    to: transport.peer_addr,
                    bytes: datagram.message.to_vec(),
                },
            ),
            None => run.push(
                &self.sockets,
                self.socket_of(transport.local_addr),
                transport.peer_addr,
                &datagram.message,
            ),
        }
    }

    /// The index of the socket bound to `local` (the first if none is: a datagram always goes).
    fn socket_of(&self, local: SocketAddr) -> usize {
        self.sockets
            .iter()
            .position(|s| s.local == local)
            .unwrap_or(0)
    }
}
