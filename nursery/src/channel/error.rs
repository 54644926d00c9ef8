//! The errors of channel operations. A failed send always gives the value back.
//!
//! Two kinds of "closed" are told apart (Trio's `ClosedResourceError` and
//! `BrokenResourceError`): **Closed** means the handle the operation was made on has been
//! closed (by [`close`](super::Sender::close)); **Disconnected** / **End** mean the other side
//! is gone (every receiver closed; every sender closed and the buffer drained).

use std::fmt;

/// Why [`Sender::send`](super::Sender::send) failed; the value comes back inside.
///
/// # Examples
///
/// ```
/// use creche_nursery::channel::{channel, SendError};
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let (tx, rx) = channel::<u32>(1);
/// drop(rx);
/// assert_eq!(tx.send(7).await, Err(SendError::Disconnected(7)));
/// # });
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SendError<T> {
    /// This sender handle was closed.
    Closed(T),
    /// Every receiver is closed: nobody will ever receive the value.
    Disconnected(T),
}

impl<T> SendError<T> {
    /// The value that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_nursery::channel::SendError;
    /// assert_eq!(SendError::Closed(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            SendError::Closed(v) | SendError::Disconnected(v) => v,
        }
    }
}

/// Why [`Sender::try_send`](super::Sender::try_send) failed; the value comes back inside.
///
/// # Examples
///
/// ```
/// use creche_nursery::channel::{channel, TrySendError};
/// let (tx, _rx) = channel::<u32>(1);
/// assert_eq!(tx.try_send(1), Ok(()));
/// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// No room: the buffer is full (or, at capacity 0, no receiver is waiting), or senders
    /// that came first are still waiting.
    Full(T),
    /// This sender handle was closed.
    Closed(T),
    /// Every receiver is closed.
    Disconnected(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use creche_nursery::channel::TrySendError;
    /// assert_eq!(TrySendError::Full("v").into_inner(), "v");
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) | TrySendError::Disconnected(v) => v,
        }
    }
}

/// Why [`Receiver::recv`](super::Receiver::recv) returned no value.
///
/// # Examples
///
/// ```
/// use creche_nursery::channel::{channel, RecvError};
/// # let rt = creche_timer::__doc_runtime();
/// # rt.block_on(async {
/// let (tx, rx) = channel::<u32>(1);
/// drop(tx);
/// assert_eq!(rx.recv().await, Err(RecvError::End));
/// rx.close();
/// assert_eq!(rx.recv().await, Err(RecvError::Closed));
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// This receiver handle was closed.
    Closed,
    /// Every sender is closed and every value sent was received: the stream has ended.
    End,
}

/// Why [`Receiver::try_recv`](super::Receiver::try_recv) returned no value.
///
/// # Examples
///
/// ```
/// use creche_nursery::channel::{channel, TryRecvError};
/// let (_tx, rx) = channel::<u32>(1);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing to take now (at capacity 0: no sender is waiting).
    Empty,
    /// This receiver handle was closed.
    Closed,
    /// Every sender is closed and every value sent was received.
    End,
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("Closed(..)"),
            SendError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("send on a closed sender handle"),
            SendError::Disconnected(_) => f.write_str("send on a channel with no open receiver"),
        }
    }
}

impl<T> std::error::Error for SendError<T> {}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
            TrySendError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("channel full"),
            TrySendError::Closed(_) => f.write_str("send on a closed sender handle"),
            TrySendError::Disconnected(_) => f.write_str("send on a channel with no open receiver"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(e: SendError<T>) -> Self {
        match e {
            SendError::Closed(v) => TrySendError::Closed(v),
            SendError::Disconnected(v) => TrySendError::Disconnected(v),
        }
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Closed => f.write_str("receive on a closed receiver handle"),
            RecvError::End => f.write_str("channel ended: every sender closed"),
        }
    }
}

impl std::error::Error for RecvError {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("channel empty"),
            TryRecvError::Closed => f.write_str("receive on a closed receiver handle"),
            TryRecvError::End => f.write_str("channel ended: every sender closed"),
        }
    }
}

impl std::error::Error for TryRecvError {}

impl From<RecvError> for TryRecvError {
    fn from(e: RecvError) -> Self {
        match e {
            RecvError::Closed => TryRecvError::Closed,
            RecvError::End => TryRecvError::End,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn send_error_display_debug_and_value() {
        let closed = SendError::Closed(String::from("a"));
        let gone = SendError::Disconnected(String::from("b"));
        assert_eq!(closed.to_string(), "send on a closed sender handle");
        assert_eq!(gone.to_string(), "send on a channel with no open receiver");
        // Debug hides the value (T need not be Debug).
        assert_eq!(format!("{closed:?}"), "Closed(..)");
        assert_eq!(format!("{gone:?}"), "Disconnected(..)");
        assert!(closed.source().is_none());
        let boxed: Box<dyn Error + Send + Sync> = Box::new(gone.clone());
        assert_eq!(boxed.to_string(), "send on a channel with no open receiver");
        assert_eq!(closed.into_inner(), "a");
        assert_eq!(gone.into_inner(), "b");
    }

    #[test]
    fn try_send_error_display_debug_value_and_from_send_error() {
        let full = TrySendError::Full(1u8);
        let closed = TrySendError::Closed(2u8);
        let gone = TrySendError::Disconnected(3u8);
        assert_eq!(full.to_string(), "channel full");
        assert_eq!(closed.to_string(), "send on a closed sender handle");
        assert_eq!(gone.to_string(), "send on a channel with no open receiver");
        assert_eq!(format!("{full:?}"), "Full(..)");
        assert_eq!(format!("{closed:?}"), "Closed(..)");
        assert_eq!(format!("{gone:?}"), "Disconnected(..)");
        assert!(full.source().is_none());
        assert_eq!(
            [full.into_inner(), closed.into_inner(), gone.into_inner()],
            [1, 2, 3]
        );
        assert_eq!(
            TrySendError::from(SendError::Closed(4u8)),
            TrySendError::Closed(4)
        );
        assert_eq!(
            TrySendError::from(SendError::Disconnected(5u8)),
            TrySendError::Disconnected(5)
        );
    }

    #[test]
    fn recv_errors_display_and_from() {
        assert_eq!(
            RecvError::Closed.to_string(),
            "receive on a closed receiver handle"
        );
        assert_eq!(
            RecvError::End.to_string(),
            "channel ended: every sender closed"
        );
        assert_eq!(TryRecvError::Empty.to_string(), "channel empty");
        assert_eq!(
            TryRecvError::Closed.to_string(),
            "receive on a closed receiver handle"
        );
        assert_eq!(
            TryRecvError::End.to_string(),
            "channel ended: every sender closed"
        );
        assert!(RecvError::End.source().is_none());
        assert!(TryRecvError::Empty.source().is_none());
        assert_eq!(TryRecvError::from(RecvError::Closed), TryRecvError::Closed);
        assert_eq!(TryRecvError::from(RecvError::End), TryRecvError::End);
    }
}
