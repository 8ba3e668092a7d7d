//! Failure-aware: prefer proxies without recent failures. Each proxy has a
//! failure score that adds one per proxy-fault failure and halves every
//! `failureHalfLife`. Proxies whose score is under 0.5 count as clean and take
//! turns (least recently picked first); the rest follow, lowest score first.
//! A failure that lifts the score to `failureThreshold` benches the proxy for
//! `cooldownPeriod`. Time-driven changes (bench ends, score decays to clean)
//! sit in a deadline heap, so nothing is rescanned.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use super::{BuildCtx, PickCtx};
use crate::health::{DecayingCount, ProxyView};
use crate::index::{Members, OrderedIndex, ordered_f64};
use crate::pool::Slot;
use crate::time::Timestamp;

const CLEAN_SCORE: f64 = 0.5;

#[derive(Clone, Copy, Default)]
struct MemberState {
    available: bool,
    score: DecayingCount,
    benched_until: Option<Timestamp>,
    last_pick: i64,
}

#[derive(Clone)]
pub(crate) struct FailureAware {
    index: OrderedIndex<(u8, i64)>,
    states: Vec<MemberState>,
    deadlines: BinaryHeap<Reverse<(Timestamp, Slot)>>,
    seq: i64,
    half_life: Duration,
    threshold: f64,
    cooldown: Duration,
    now: Timestamp,
}

impl FailureAware {
    pub fn new(members: Members, b: &BuildCtx<'_>) -> FailureAware {
        let states: Vec<MemberState> = members
            .slots()
            .iter()
            .map(|&s| {
                let v = (b.view)(s);
                MemberState {
                    available: v.available,
                    score: v.failure_score,
                    ..MemberState::default()
                }
            })
            .collect();
        let mut me = FailureAware {
            index: OrderedIndex::new(members, |_| None),
            states,
            deadlines: BinaryHeap::new(),
            seq: 0,
            half_life: b.settings.failure_half_life,
            threshold: f64::from(b.common.failure_threshold),
            cooldown: b.common.cooldown_period,
            now: Timestamp::EPOCH,
        };
        for pos in 0..me.states.len() {
            me.rekey(pos);
        }
        me
    }

    fn key(&self, pos: usize) -> Option<(u8, i64)> {
        let st = &self.states[pos];
        if !st.available || st.benched_until.is_some_and(|t| t > self.now) {
            return None;
        }
        if st.score.value_at(self.now, self.half_life) < CLEAN_SCORE {
            Some((0, st.last_pick))
        } else {
            Some((1, ordered_f64(st.score.forward_key(self.half_life))))
        }
    }

    fn rekey(&mut self, pos: usize) {
        let slot = self.index.members().slot(pos);
        let key = self.key(pos);
        self.index.set(slot, key);
    }

    pub fn advance(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        while let Some(&Reverse((at, slot))) = self.deadlines.peek() {
            if at > self.now {
                break;
            }
            self.deadlines.pop();
            if let Some(pos) = self.index.members().pos(slot) {
                if self.states[pos]
                    .benched_until
                    .is_some_and(|t| t <= self.now)
                {
                    self.states[pos].benched_until = None;
                }
                self.rekey(pos);
            }
        }
    }

    pub fn pick(&mut self, ctx: &mut PickCtx<'_>, out: &mut Vec<Slot>) {
        self.advance(ctx.now);
        let before = out.len();
        self.index.fill(ctx.want, out, |s| ctx.allows(s));
        if let Some(&first) = out.get(before)
            && let Some(pos) = self.index.members().pos(first)
        {
            self.seq += 1;
            self.states[pos].last_pick = self.seq;
            self.rekey(pos);
        }
    }

    pub fn update(&mut self, slot: Slot, view: &ProxyView, now: Timestamp) {
        self.now = self.now.max(now);
        let Some(pos) = self.index.members().pos(slot) else {
            return;
        };
        let st = &mut self.states[pos];
        let new_failure = view.failure_score != st.score;
        st.available = view.available;
        st.score = view.failure_score;
        if new_failure {
            let score = st.score.value_at(self.now, self.half_life);
            if score >= self.threshold && st.benched_until.is_none_or(|t| t <= self.now) {
                let until = self.now.after(self.cooldown);
                st.benched_until = Some(until);
                self.deadlines.push(Reverse((until, slot)));
            }
            if score >= CLEAN_SCORE {
                let clean_at = st.score.below_at(CLEAN_SCORE, self.half_life);
                self.deadlines.push(Reverse((clean_at, slot)));
            }
        }
        self.rekey(pos);
    }

    pub fn members(&self) -> &Members {
        self.index.members()
    }
}
