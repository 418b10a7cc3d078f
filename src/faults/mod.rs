//! Fault injection for testers (docs/faults.md): rules loaded with
//! `serve --faults FILE` or set through the admin API make chosen requests
//! slow, fail with an S3 error, lose their connection, or get a slow or
//! cut-off GET body.
//!
//! Off unless asked for, and then free: a shard with no rules pays one
//! `Cell<bool>` read per request. Each shard holds its own copy of the
//! rules and their counters ([`engine::ShardFaults`]); a change made through
//! the admin API reaches the other shards as a message, never a shared lock.
//! `server::faults` applies a decision to the request and its connection.

pub mod engine;
pub mod spec;

pub use engine::{Decision, RequestFacts, ShardFaults};
pub use spec::{ActionSpec, FaultRules};

use std::cell::{Cell, RefCell};
use std::time::Instant;

/// One shard's fault rules, behind the one check the request path makes.
pub struct FaultsCell {
    /// Rules are installed: the request path looks no further when false.
    on: Cell<bool>,
    state: RefCell<ShardFaults>,
    shard: usize,
}

impl FaultsCell {
    /// Shard `shard`'s copy of the start-up rules (none: off), loaded at `started`.
    pub fn new(rules: Option<&FaultRules>, started: Instant, shard: usize) -> FaultsCell {
        let rules = rules.cloned().unwrap_or_default();
        let state = ShardFaults::new(rules, started, shard, 0);
        FaultsCell {
            on: Cell::new(!state.is_empty()),
            state: RefCell::new(state),
            shard,
        }
    }

    /// Whether any rule is installed (the request path's one check).
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on.get()
    }

    /// What the rules do to the request `facts` describes (the clock is
    /// read only for a rule with a schedule).
    pub fn decide(&self, facts: &RequestFacts) -> Option<Decision> {
        self.state.borrow_mut().decide(facts, Instant::now)
    }

    /// Replaces the rules with validated `rules` made at `version` (when,
    /// the shard whose admin API took the change) unless newer ones are
    /// installed already; whether they were installed.
    pub fn install(&self, rules: FaultRules, version: (Instant, usize)) -> bool {
        let mut state = self.state.borrow_mut();
        if !state.is_older_than(version) {
            return false;
        }
        *state = ShardFaults::new(rules, version.0, self.shard, version.1);
        self.on.set(!state.is_empty());
        true
    }

    /// The rules installed and when they were loaded.
    pub fn listing(&self) -> (FaultRules, Instant) {
        let state = self.state.borrow();
        (state.source().clone(), state.loaded_at())
    }
}
