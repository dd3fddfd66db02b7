//! What the accept loop, the connection threads and the test's handle share about an outage
//! of the whole server: which one is in force and until when (one whose time is up is over,
//! without anyone ending it), whether the port is listening (a `Refused` outage closes it,
//! and it opens again when the outage ends), and how many requests arrived during one.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::faults::Outage;

struct Window {
    outage: Option<Outage>,
    /// When the outage ends by itself (None: when the test ends it).
    until: Option<Instant>,
    /// Whether the port is listening.
    listening: bool,
    /// Why listening on the port again failed, the last time it was tried.
    bind_error: Option<String>,
}

impl Window {
    /// The outage in force at `now`.
    fn active(&self, now: Instant) -> Option<Outage> {
        self.outage
            .filter(|_| self.until.is_none_or(|until| now < until))
    }
}

pub(crate) struct Outages {
    window: Mutex<Window>,
    changed: Condvar,
    /// Requests read while an outage was in force.
    pub during: AtomicUsize,
}

impl Outages {
    pub fn new() -> Outages {
        Outages {
            window: Mutex::new(Window {
                outage: None,
                until: None,
                listening: true,
                bind_error: None,
            }),
            changed: Condvar::new(),
            during: AtomicUsize::new(0),
        }
    }

    fn window(&self) -> MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The outage in force now, if any.
    pub fn current(&self) -> Option<Outage> {
        self.window().active(Instant::now())
    }

    /// Puts `outage` in force (replacing any other) until `until`, or until [`Outages::end`].
    pub fn start(&self, outage: Outage, until: Option<Instant>) {
        let mut window = self.window();
        window.outage = Some(outage);
        window.until = until;
        self.changed.notify_all();
    }

    pub fn end(&self) {
        let mut window = self.window();
        window.outage = None;
        window.until = None;
        self.changed.notify_all();
    }

    /// The accept loop says whether the port listens, and why it could not listen again.
    pub fn set_listening(&self, listening: bool, bind_error: Option<String>) {
        let mut window = self.window();
        window.listening = listening;
        window.bind_error = bind_error;
        self.changed.notify_all();
    }

    /// Wakes whoever waits, to look at `stop` again.
    pub fn wake(&self) {
        let _window = self.window();
        self.changed.notify_all();
    }

    /// Blocks (the accept loop, its port closed) while a `Refused` outage lasts and `stop`
    /// is not set.
    pub fn wait_while_refused(&self, stop: &AtomicBool) {
        let mut window = self.window();
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let now = Instant::now();
            if window.active(now) != Some(Outage::Refused) {
                return;
            }
            window = match window.until {
                Some(until) => {
                    self.changed
                        .wait_timeout(window, until - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self.changed.wait(window).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }

    /// Blocks (the test's handle) until the port is as the outage in force wants it: closed
    /// during a `Refused` outage, listening otherwise. Gives up after `timeout`, with the
    /// reason the port could not listen again when there is one.
    pub fn settle(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut window = self.window();
        loop {
            let now = Instant::now();
            let refused = window.active(now) == Some(Outage::Refused);
            if window.listening != refused {
                return Ok(());
            }
            if now >= deadline {
                return Err(window
                    .bind_error
                    .clone()
                    .unwrap_or_else(|| "the accept loop did not answer".to_string()));
            }
            // Wake up at the deadline, or sooner when a timed outage ends by itself.
            let mut wake_at = deadline;
            if let Some(until) = window.until.filter(|until| *until > now) {
                wake_at = wake_at.min(until);
            }
            window = self
                .changed
                .wait_timeout(window, wake_at - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}
