//! What leaves a connection: the peer connection's datagrams (through a TURN relay when sent
//! from one, resent when a handshake flight was lost), the servers' (over a socket or a TURN
//! stream), all through the network simulator when conditions are set, in segmented sends.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
use rtc::sansio::Protocol;
use rtc::shared::TaggedBytesMut;

use super::sockets::Run;
use super::{Core, Driver};
use crate::conditions::{Datagram, LinkSimulator};

impl Driver {
    /// Sends every queued datagram: the peer connection's (through a relay when sent from
    /// one) and the servers'. Returns whether there was any.
    pub(super) fn flush(&self, core: &mut Core) -> bool {
        core.flush_pending = false;
        let mut any = false;
        // Datagrams of one size to one destination from one socket go out as one segmented
        // send: the kernel walks its stack once for the run, not once per datagram.
        let mut run = Run::default();
        let now = Instant::now();
        core.outbox.write(&mut core.pc, now);
        for (from, to, bytes) in std::mem::take(&mut core.resend) {
            any = true;
            let datagram = super::tagged(now, from, to, BytesMut::from(&bytes[..]));
            self.emit(core, &mut run, now, datagram);
        }
        while let Some(datagram) = core.pc.poll_write() {
            any = true;
            self.emit(core, &mut run, now, datagram);
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

    /// Sends a datagram of the peer connection: through its relay when sent from one.
    fn emit(&self, core: &mut Core, run: &mut Run, now: Instant, datagram: TaggedBytesMut) {
        let transport = &datagram.transport;
        core.handshake
            .sent(transport.local_addr, transport.peer_addr, &datagram.message);
        if core.servers.is_relay(transport.local_addr) {
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
