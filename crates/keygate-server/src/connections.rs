//! Which accepted connections the engine serves, and which it closes to make room.
//!
//! A new connection first waits in the [`Lobby`] until its first bytes say which protocol it
//! speaks. The lobby is small and, when full, closes its *oldest* occupant rather than turn the
//! newcomer away: a flood of connections that never send a byte cannot keep a real client
//! (which sends its request at once) from being served, even when every local client shares
//! 127.0.0.1. Past the lobby a connection needs one of the [`Slots`]: a global cap that keeps
//! the engine's file descriptors bounded, and a per-peer cap well under it, so one peer cannot
//! take every slot.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// Connections that have not yet sent the bytes that name their protocol.
pub struct Lobby {
    capacity: usize,
    inner: Mutex<LobbyInner>,
}

#[derive(Default)]
struct LobbyInner {
    next_id: u64,
    /// By arrival: the first entry is the oldest. Dropping a sender tells its connection to
    /// close.
    waiting: BTreeMap<u64, oneshot::Sender<()>>,
    closed: bool,
}

/// A connection's place in the lobby; dropping it leaves the lobby.
pub struct LobbyTicket {
    lobby: Arc<Lobby>,
    id: u64,
    /// Resolves when the lobby closes this connection: to make room, or because the engine
    /// stops.
    pub evicted: oneshot::Receiver<()>,
}

impl Lobby {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity: capacity.max(1),
            inner: Mutex::new(LobbyInner::default()),
        })
    }

    /// Lets a new connection in; if the lobby is full, its oldest occupant is told to close.
    pub fn enter(self: &Arc<Self>) -> LobbyTicket {
        let (tell, evicted) = oneshot::channel();
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        if !inner.closed {
            if inner.waiting.len() >= self.capacity {
                inner.waiting.pop_first();
            }
            inner.waiting.insert(id, tell);
        }
        drop(inner);
        LobbyTicket {
            lobby: self.clone(),
            id,
            evicted,
        }
    }

    /// Tells the oldest occupant to close (the engine is out of file descriptors); false when
    /// the lobby is empty.
    /// Whether the next connection to enter closes the oldest one waiting.
    pub fn is_full(&self) -> bool {
        let inner = self.lock();
        !inner.closed && inner.waiting.len() >= self.capacity
    }

    pub fn evict_oldest(&self) -> bool {
        self.lock().waiting.pop_first().is_some()
    }

    /// Closes every waiting connection and every one that enters from now on (shutdown).
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.waiting.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().waiting.len()
    }

    fn lock(&self) -> MutexGuard<'_, LobbyInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for LobbyTicket {
    fn drop(&mut self) {
        self.lobby.lock().waiting.remove(&self.id);
    }
}

/// Why a connection got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Its peer address already holds its share.
    Peer,
    /// The engine serves as many connections as it will.
    Engine,
}

/// Serving connections, counted in total and per peer address.
pub struct Slots {
    total_cap: usize,
    per_peer_cap: usize,
    inner: Mutex<SlotCounts>,
}

#[derive(Default)]
struct SlotCounts {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
}

/// A serving connection's slot; dropping it frees the slot.
pub struct Slot {
    slots: Arc<Slots>,
    peer: IpAddr,
}

impl Slots {
    pub fn new(total_cap: usize, per_peer_cap: usize) -> Arc<Self> {
        Arc::new(Self {
            total_cap,
            per_peer_cap,
            inner: Mutex::new(SlotCounts::default()),
        })
    }

    /// A slot for a connection from `peer`, if both caps allow one.
    pub fn take(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Full> {
        // `::ffff:127.0.0.1` and `127.0.0.1` are one peer.
        let peer = peer.to_canonical();
        let mut counts = self.lock();
        if counts.total >= self.total_cap {
            return Err(Full::Engine);
        }
        let held = counts.per_peer.entry(peer).or_insert(0);
        if *held >= self.per_peer_cap {
            return Err(Full::Peer);
        }
        *held += 1;
        counts.total += 1;
        drop(counts);
        Ok(Slot {
            slots: self.clone(),
            peer,
        })
    }

    fn lock(&self) -> MutexGuard<'_, SlotCounts> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.slots.lock();
        counts.total -= 1;
        if let Some(held) = counts.per_peer.get_mut(&self.peer) {
            *held -= 1;
            if *held == 0 {
                counts.per_peer.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_lobby_closes_its_oldest_occupant_not_the_newcomer() {
        let lobby = Lobby::new(2);
        let mut first = lobby.enter();
        let mut second = lobby.enter();
        let mut third = lobby.enter();
        assert_eq!(
            first.evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        );
        assert_eq!(
            second.evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        );
        assert_eq!(
            third.evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        );
        assert_eq!(lobby.len(), 2);
        drop(second);
        assert_eq!(lobby.len(), 1, "leaving frees the place");
        let _fourth = lobby.enter();
        assert_eq!(
            third.evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        );
        assert!(lobby.evict_oldest());
        assert_eq!(
            third.evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        );
    }

    #[test]
    fn a_closed_lobby_closes_everyone_who_waits_or_comes() {
        let lobby = Lobby::new(8);
        let mut waiting = lobby.enter();
        lobby.close();
        assert_eq!(
            waiting.evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        );
        let mut late = lobby.enter();
        assert_eq!(
            late.evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        );
        assert_eq!(lobby.len(), 0);
    }

    #[test]
    fn one_peer_cannot_take_every_slot() {
        let slots = Slots::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let first = slots.take(a).expect("first");
        let _second = slots.take(mapped).expect("second");
        assert_eq!(slots.take(a).err(), Some(Full::Peer));
        let _other = slots.take(b).expect("another peer");
        assert_eq!(slots.take(b).err(), Some(Full::Engine));
        drop(first);
        assert!(slots.take(a).is_ok(), "a freed slot can be taken again");
    }
}
