//! The loom stand-in for crossbeam-deque: the same contract over loom-instrumented locks.

use crate::sync::{Arc, Mutex};
use std::collections::VecDeque;

/// The outcome of a steal, as crossbeam's `Steal`.
pub(crate) enum Steal<T> {
    Empty,
    Success(T),
    #[allow(dead_code)]
    Retry,
}

type Queue<T> = Arc<Mutex<VecDeque<T>>>;

pub(crate) struct Worker<T>(Queue<T>);
pub(crate) struct Stealer<T>(Queue<T>);
pub(crate) struct Injector<T>(Mutex<VecDeque<T>>);

fn move_half<T>(from: &mut VecDeque<T>, to: &Queue<T>) -> Steal<T> {
    let Some(first) = from.pop_front() else {
        return Steal::Empty;
    };
    let extra = from.len() / 2;
    if extra > 0 {
        let mut to = to.lock();
        to.extend(from.drain(..extra));
    }
    Steal::Success(first)
}

impl<T> Worker<T> {
    pub(crate) fn new_fifo() -> Self {
        Worker(Arc::new(Mutex::new(VecDeque::new())))
    }
    pub(crate) fn push(&self, value: T) {
        self.0.lock().push_back(value)
    }
    pub(crate) fn pop(&self) -> Option<T> {
        self.0.lock().pop_front()
    }
    pub(crate) fn len(&self) -> usize {
        self.0.lock().len()
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.lock().is_empty()
    }
    pub(crate) fn stealer(&self) -> Stealer<T> {
        Stealer(self.0.clone())
    }
}

impl<T> Stealer<T> {
    pub(crate) fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
        let mut from = self.0.lock();
        move_half(&mut from, &dest.0)
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.lock().is_empty()
    }
}

impl<T> Injector<T> {
    pub(crate) fn new() -> Self {
        Injector(Mutex::new(VecDeque::new()))
    }
    pub(crate) fn push(&self, value: T) {
        self.0.lock().push_back(value)
    }
    pub(crate) fn steal(&self) -> Steal<T> {
        match self.0.lock().pop_front() {
            Some(v) => Steal::Success(v),
            None => Steal::Empty,
        }
    }
    pub(crate) fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
        let mut from = self.0.lock();
        move_half(&mut from, &dest.0)
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.lock().is_empty()
    }
}
