//! Giving the executor a turn from inside a long task.

use std::future::poll_fn;
use std::task::Poll;

/// Lets every other ready task on this thread run once before resuming.
pub async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
