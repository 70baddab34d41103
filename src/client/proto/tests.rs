//! The session state machine, driven by hand: commands in, messages out.

use super::*;
use crate::client::error::InvocationError;
use crate::wamp::List;
use crate::{dict, list};

fn core() -> (Core, mpsc::Receiver<InvocationOutput>) {
    let (tx, rx) = mpsc::channel(16);
    (Core::new(tx), rx)
}

fn welcome(canceling: bool) -> Dict {
    dict! {"roles" => dict! {"dealer" => dict! {"features" => dict! {"call_canceling" => canceling}}}}
}

fn connected() -> (Core, mpsc::Receiver<InvocationOutput>) {
    let (mut c, rx) = core();
    c.connected(42, &welcome(true));
    assert!(c.is_connected());
    assert_eq!(c.take_ready(), Some(42));
    (c, rx)
}

/// Messages queued for sending (non-acked publishes included), spawns dropped.
fn sent(c: &mut Core) -> Vec<Message> {
    c.take_out()
        .into_iter()
        .filter_map(|o| match o {
            Out::Send(m) => Some(m),
            Out::SendPublish(m, _) => Some(m),
            Out::Spawn(_) => None,
        })
        .collect()
}

fn spawned(c: &mut Core) -> Vec<InvocationJob> {
    c.take_out()
        .into_iter()
        .filter_map(|o| match o {
            Out::Spawn(j) => Some(j),
            _ => None,
        })
        .collect()
}

type CallRx = oneshot::Receiver<Result<CallResult, CallError>>;

fn call(
    c: &mut Core,
    key: u64,
    procedure: &str,
    progress: bool,
) -> (CallRx, Option<Arc<DropOldest<Payload>>>) {
    let (tx, rx) = oneshot::channel();
    let q = progress.then(|| Arc::new(DropOldest::new(8)));
    c.command(Command::Call(CallRequest {
        key,
        procedure: procedure.into(),
        payload: Payload::args(list![3, 5]),
        options: Dict::new(),
        reply: tx,
        progress: q.clone(),
    }));
    (rx, q)
}

type UnitRx = oneshot::Receiver<Result<(), ClientError>>;

fn subscribe(c: &mut Core, key: u64, topic: &str, cap: usize) -> (UnitRx, Arc<DropOldest<Event>>) {
    let (tx, rx) = oneshot::channel();
    let q = Arc::new(DropOldest::new(cap));
    c.command(Command::Subscribe {
        key,
        topic: topic.into(),
        options: Dict::new(),
        queue: q.clone(),
        reply: tx,
    });
    (rx, q)
}

fn echo_handler() -> Handler {
    Arc::new(|inv: Invocation| Box::pin(async move { Ok(Payload::args(inv.args)) }) as _)
}

fn register(c: &mut Core, key: u64, procedure: &str) -> UnitRx {
    let (tx, rx) = oneshot::channel();
    c.command(Command::Register {
        key,
        procedure: procedure.into(),
        options: Dict::new(),
        handler: echo_handler(),
        reply: tx,
    });
    rx
}

fn event(subscription: Id, details: Dict, args: List) -> Message {
    Message::Event {
        subscription,
        publication: 900,
        details,
        payload: Payload::args(args),
    }
}

#[test]
fn call_result_round_trip() {
    let (mut c, _rx) = connected();
    let (mut rx, _) = call(&mut c, 1, "com.example.move", false);
    assert_eq!(
        sent(&mut c),
        vec![Message::Call {
            request: 1,
            options: Dict::new(),
            procedure: "com.example.move".into(),
            payload: Payload::args(list![3, 5]),
        }]
    );
    assert!(rx.try_recv().is_err());
    c.message(Message::Result {
        request: 1,
        details: Dict::new(),
        payload: Payload::new(list![true], dict! {"k" => 1}),
    })
    .unwrap();
    let r = rx.try_recv().unwrap().unwrap();
    assert_eq!(r.args, list![true]);
    assert_eq!(r.kwargs, dict! {"k" => 1});
    // A second RESULT for the same request is a violation.
    assert!(c
        .message(Message::Result {
            request: 1,
            details: Dict::new(),
            payload: Payload::default()
        })
        .is_err());
}

#[test]
fn offline_calls_and_publishes_fail_at_once() {
    let (mut c, _rx) = core();
    let (mut rx, q) = call(&mut c, 1, "a.b", true);
    assert_eq!(rx.try_recv().unwrap(), Err(CallError::NotConnected));
    assert!(q.unwrap().is_closed());
    let (tx, mut prx) = oneshot::channel();
    c.command(Command::Publish {
        topic: "t".into(),
        payload: Payload::default(),
        options: Dict::new(),
        acknowledge: false,
        reply: tx,
    });
    assert_eq!(prx.try_recv().unwrap(), Err(PublishError::NotConnected));
    assert!(sent(&mut c).is_empty());
}

#[test]
fn call_skipped_when_caller_already_gone() {
    let (mut c, _rx) = connected();
    let (rx, _) = call(&mut c, 1, "a.b", false);
    drop(rx);
    // Command processed after the caller dropped: `call` sent the reply into a closed
    // channel? No: it checks first and sends nothing.
    let (tx, rx2) = oneshot::channel::<Result<CallResult, CallError>>();
    drop(rx2);
    c.command(Command::Call(CallRequest {
        key: 2,
        procedure: "a.b".into(),
        payload: Payload::default(),
        options: Dict::new(),
        reply: tx,
        progress: None,
    }));
    let msgs = sent(&mut c);
    assert_eq!(msgs.len(), 1, "only the first call left: {msgs:?}");
}

#[test]
fn progressive_results_then_final() {
    let (mut c, _rx) = connected();
    let (mut rx, q) = call(&mut c, 1, "a.b", true);
    let q = q.unwrap();
    sent(&mut c);
    for i in 0..3 {
        c.message(Message::Result {
            request: 1,
            details: dict! {"progress" => true},
            payload: Payload::args(list![i]),
        })
        .unwrap();
    }
    assert!(rx.try_recv().is_err());
    c.message(Message::Result {
        request: 1,
        details: Dict::new(),
        payload: Payload::args(list!["done"]),
    })
    .unwrap();
    assert_eq!(rx.try_recv().unwrap().unwrap().args, list!["done"]);
    let got: Vec<_> = std::iter::from_fn(|| q.try_pop()).collect();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2], Payload::args(list![2]));
    assert!(q.is_closed());
}

#[test]
fn call_errors_map_to_variants() {
    let (mut c, _rx) = connected();
    let (mut rx1, _) = call(&mut c, 1, "nope", false);
    let (mut rx2, _) = call(&mut c, 2, "app", false);
    c.message(Message::Error {
        request_type: code::CALL,
        request: 1,
        details: Dict::new(),
        error: uris::NO_SUCH_PROCEDURE.into(),
        payload: Payload::default(),
    })
    .unwrap();
    c.message(Message::Error {
        request_type: code::CALL,
        request: 2,
        details: Dict::new(),
        error: "com.example.error.bad".into(),
        payload: Payload::new(list![1], dict! {"why" => "x"}),
    })
    .unwrap();
    assert_eq!(
        rx1.try_recv().unwrap(),
        Err(CallError::NoSuchProcedure("nope".into()))
    );
    assert_eq!(
        rx2.try_recv().unwrap(),
        Err(CallError::Application {
            error: "com.example.error.bad".into(),
            args: list![1],
            kwargs: dict! {"why" => "x"}
        })
    );
}

#[test]
fn protocol_violations_are_reported_not_panicked() {
    let (mut c, _rx) = connected();
    let (_rx1, _) = call(&mut c, 1, "a.b", false);
    let bad = [
        Message::Result {
            request: 77,
            details: Dict::new(),
            payload: Payload::default(),
        },
        Message::Welcome {
            session: 1,
            details: Dict::new(),
        },
        Message::Hello {
            realm: "r".into(),
            details: Dict::new(),
        },
        Message::Challenge {
            authmethod: "ticket".into(),
            extra: Dict::new(),
        },
        Message::Call {
            request: 1,
            options: Dict::new(),
            procedure: "x".into(),
            payload: Payload::default(),
        },
        Message::Yield {
            request: 1,
            options: Dict::new(),
            payload: Payload::default(),
        },
        // Right request id, wrong kind.
        Message::Published {
            request: 1,
            publication: 5,
        },
        Message::Error {
            request_type: code::INVOCATION,
            request: 1,
            details: Dict::new(),
            error: "x".into(),
            payload: Payload::default(),
        },
        Message::Error {
            request_type: 999,
            request: 1,
            details: Dict::new(),
            error: "x".into(),
            payload: Payload::default(),
        },
        Message::Subscribed {
            request: 5,
            subscription: 1,
        },
        Message::Unregistered {
            request: 5,
            details: None,
        },
    ];
    for msg in bad {
        let (mut fresh, _rx) = connected();
        let _pending = call(&mut fresh, 1, "a.b", false);
        assert!(fresh.message(msg.clone()).is_err(), "{msg:?}");
    }
    let (mut offline, _rx) = core();
    assert!(offline
        .message(Message::Published {
            request: 1,
            publication: 1
        })
        .is_err());
}

#[test]
fn cancel_sends_cancel_when_the_dealer_supports_it() {
    let (mut c, _rx) = connected();
    let (mut rx, _) = call(&mut c, 7, "slow", false);
    sent(&mut c);
    c.release(Release::Cancel {
        key: 7,
        mode: CancelMode::Kill,
        abandon: false,
    });
    // Twice: only one CANCEL.
    c.release(Release::Cancel {
        key: 7,
        mode: CancelMode::Kill,
        abandon: false,
    });
    assert_eq!(
        sent(&mut c),
        vec![Message::Cancel {
            request: 1,
            options: dict! {"mode" => "kill"}
        }]
    );
    c.message(Message::Error {
        request_type: code::CALL,
        request: 1,
        details: Dict::new(),
        error: uris::CANCELED.into(),
        payload: Payload::default(),
    })
    .unwrap();
    assert_eq!(rx.try_recv().unwrap(), Err(CallError::Canceled));
    // Cancel of a finished call: nothing.
    c.release(Release::Cancel {
        key: 7,
        mode: CancelMode::Skip,
        abandon: true,
    });
    assert!(sent(&mut c).is_empty());
}

#[test]
fn cancel_without_dealer_support_gives_up_locally() {
    let (mut c, _rx) = core();
    c.connected(1, &welcome(false));
    let (mut rx, _) = call(&mut c, 7, "slow", false);
    sent(&mut c);
    c.release(Release::Cancel {
        key: 7,
        mode: CancelMode::KillNoWait,
        abandon: false,
    });
    assert!(sent(&mut c).is_empty());
    assert_eq!(rx.try_recv().unwrap(), Err(CallError::Canceled));
    // The late answer is absorbed, not a violation.
    c.message(Message::Result {
        request: 1,
        details: Dict::new(),
        payload: Payload::default(),
    })
    .unwrap();
}

#[test]
fn publish_acknowledged_and_not() {
    let (mut c, _rx) = connected();
    let (tx, mut rx) = oneshot::channel();
    c.command(Command::Publish {
        topic: "com.example.message".into(),
        payload: Payload::args(list!["hi"]),
        options: dict! {"acknowledge" => true},
        acknowledge: true,
        reply: tx,
    });
    assert!(matches!(
        &sent(&mut c)[..],
        [Message::Publish { request: 1, .. }]
    ));
    c.message(Message::Published {
        request: 1,
        publication: 555,
    })
    .unwrap();
    assert_eq!(rx.try_recv().unwrap(), Ok(Some(555)));

    let (tx, mut rx) = oneshot::channel();
    c.command(Command::Publish {
        topic: "t".into(),
        payload: Payload::default(),
        options: Dict::new(),
        acknowledge: false,
        reply: tx,
    });
    match c.take_out().pop() {
        Some(Out::SendPublish(Message::Publish { request: 2, .. }, reply)) => {
            reply.send(Ok(None)).unwrap()
        }
        _ => panic!("expected a non-acked publish"),
    }
    assert_eq!(rx.try_recv().unwrap(), Ok(None));

    let (tx, mut rx) = oneshot::channel();
    c.command(Command::Publish {
        topic: "t".into(),
        payload: Payload::default(),
        options: Dict::new(),
        acknowledge: true,
        reply: tx,
    });
    c.message(Message::Error {
        request_type: code::PUBLISH,
        request: 3,
        details: Dict::new(),
        error: uris::NOT_AUTHORIZED.into(),
        payload: Payload::default(),
    })
    .unwrap();
    assert!(matches!(
        rx.try_recv().unwrap(),
        Err(PublishError::Rejected { error, .. }) if error == uris::NOT_AUTHORIZED
    ));
}

#[test]
fn events_reach_every_local_subscription_sharing_a_router_id() {
    let (mut c, _rx) = connected();
    let (mut a_rx, a) = subscribe(&mut c, 1, "com.example", 8);
    let (mut b_rx, b) = subscribe(&mut c, 2, "com.example", 8);
    assert_eq!(sent(&mut c).len(), 2);
    c.message(Message::Subscribed {
        request: 1,
        subscription: 77,
    })
    .unwrap();
    c.message(Message::Subscribed {
        request: 2,
        subscription: 77,
    })
    .unwrap();
    assert_eq!(a_rx.try_recv().unwrap(), Ok(()));
    assert_eq!(b_rx.try_recv().unwrap(), Ok(()));
    c.message(event(
        77,
        dict! {"topic" => "com.example.x", "publisher" => 9},
        list![1],
    ))
    .unwrap();
    let ea = a.try_pop().unwrap();
    assert_eq!(ea.topic, "com.example.x");
    assert_eq!(ea.publisher(), Some(9));
    assert_eq!(ea.args, list![1]);
    assert_eq!(b.try_pop().unwrap().publication, 900);
    // Without details.topic the subscribed URI is the topic.
    c.message(event(77, Dict::new(), list![])).unwrap();
    assert_eq!(a.try_pop().unwrap().topic, "com.example");

    // Dropping one keeps the router subscription; dropping the last undoes it.
    c.release(Release::Subscription(1));
    assert!(a.is_closed());
    assert!(sent(&mut c).is_empty());
    let (tx, mut rx) = oneshot::channel();
    c.command(Command::Unsubscribe { key: 2, reply: tx });
    assert_eq!(
        sent(&mut c),
        vec![Message::Unsubscribe {
            request: 3,
            subscription: 77
        }]
    );
    c.message(Message::Unsubscribed {
        request: 3,
        details: None,
    })
    .unwrap();
    assert_eq!(rx.try_recv().unwrap(), Ok(()));
    // Late event for the gone subscription: ignored.
    c.message(event(77, Dict::new(), list![])).unwrap();
}

#[test]
fn slow_subscriber_loses_oldest_events_only() {
    let (mut c, _rx) = connected();
    let (_r, q) = subscribe(&mut c, 1, "t", 2);
    c.message(Message::Subscribed {
        request: 1,
        subscription: 5,
    })
    .unwrap();
    for i in 0..5 {
        c.message(event(5, Dict::new(), list![i])).unwrap();
    }
    assert_eq!(q.dropped(), 3);
    assert_eq!(q.try_pop().unwrap().args, list![3]);
    assert_eq!(q.try_pop().unwrap().args, list![4]);
}

#[test]
fn released_while_subscribing_is_undone() {
    let (mut c, _rx) = connected();
    let (_r, q) = subscribe(&mut c, 1, "t", 2);
    sent(&mut c);
    c.release(Release::Subscription(1));
    assert!(q.is_closed());
    assert!(sent(&mut c).is_empty());
    c.message(Message::Subscribed {
        request: 1,
        subscription: 5,
    })
    .unwrap();
    assert_eq!(
        sent(&mut c),
        vec![Message::Unsubscribe {
            request: 2,
            subscription: 5
        }]
    );
}

#[test]
fn subscribe_racing_an_unsubscribe_of_the_same_router_id_resubscribes() {
    let (mut c, _rx) = connected();
    let (_ra, _a) = subscribe(&mut c, 1, "t", 2);
    c.message(Message::Subscribed {
        request: 1,
        subscription: 5,
    })
    .unwrap();
    let (mut rb, b) = subscribe(&mut c, 2, "t", 2); // request 2
    c.release(Release::Subscription(1)); // UNSUBSCRIBE 5 as request 3
    sent(&mut c);
    // The router handled SUBSCRIBE 2 before UNSUBSCRIBE 3 and returned id 5.
    c.message(Message::Subscribed {
        request: 2,
        subscription: 5,
    })
    .unwrap();
    assert_eq!(
        sent(&mut c),
        vec![Message::Subscribe {
            request: 4,
            options: Dict::new(),
            topic: "t".into()
        }]
    );
    c.message(Message::Unsubscribed {
        request: 3,
        details: None,
    })
    .unwrap();
    c.message(Message::Subscribed {
        request: 4,
        subscription: 6,
    })
    .unwrap();
    assert_eq!(rb.try_recv().unwrap(), Ok(()));
    c.message(event(6, Dict::new(), list![1])).unwrap();
    assert!(b.try_pop().is_some());
}

#[test]
fn reconnect_fails_pending_and_restores_everything() {
    let (mut c, _rx) = core();
    // Subscribed and registered before any session: they wait.
    let (mut sub_rx, q) = subscribe(&mut c, 1, "com.example.fix", 8);
    let mut reg_rx = register(&mut c, 2, "com.example.add2");
    assert!(sent(&mut c).is_empty());
    assert!(sub_rx.try_recv().is_err());

    c.connected(100, &welcome(true));
    assert_eq!(
        sent(&mut c),
        vec![
            Message::Subscribe {
                request: 1,
                options: Dict::new(),
                topic: "com.example.fix".into()
            },
            Message::Register {
                request: 2,
                options: Dict::new(),
                procedure: "com.example.add2".into()
            },
        ]
    );
    assert_eq!(c.take_ready(), None, "not ready before everything is back");
    c.message(Message::Subscribed {
        request: 1,
        subscription: 10,
    })
    .unwrap();
    assert_eq!(c.take_ready(), None);
    c.message(Message::Registered {
        request: 2,
        registration: 20,
    })
    .unwrap();
    assert_eq!(c.take_ready(), Some(100));
    assert_eq!(c.take_ready(), None, "announced once");
    assert_eq!(sub_rx.try_recv().unwrap(), Ok(()));
    assert_eq!(reg_rx.try_recv().unwrap(), Ok(()));

    // A call is pending when the connection drops.
    let (mut call_rx, _) = call(&mut c, 3, "x", false);
    sent(&mut c);
    c.disconnected(Loss::Lost);
    assert_eq!(call_rx.try_recv().unwrap(), Err(CallError::ConnectionLost));
    assert!(!q.is_closed(), "the subscription stream survives");

    // Next session: both come back by themselves, request ids start over.
    c.connected(101, &welcome(true));
    let msgs = sent(&mut c);
    assert!(matches!(
        &msgs[..],
        [
            Message::Subscribe { request: 1, .. },
            Message::Register { request: 2, .. }
        ]
    ));
    c.message(Message::Subscribed {
        request: 1,
        subscription: 11,
    })
    .unwrap();
    c.message(Message::Registered {
        request: 2,
        registration: 21,
    })
    .unwrap();
    assert_eq!(c.take_ready(), Some(101));
    c.message(event(11, Dict::new(), list!["again"])).unwrap();
    assert_eq!(q.try_pop().unwrap().args, list!["again"]);
    c.message(Message::Invocation {
        request: 1,
        registration: 21,
        details: Dict::new(),
        payload: Payload::args(list![1, 2]),
    })
    .unwrap();
    assert_eq!(spawned(&mut c).len(), 1);

    // Closing: pending calls fail with Closed.
    let (mut call_rx, _) = call(&mut c, 4, "x", false);
    c.shutdown();
    assert_eq!(call_rx.try_recv().unwrap(), Err(CallError::Closed));

    c.shutdown();
    assert!(q.is_closed());
}

#[test]
fn refused_resubscription_ends_the_stream() {
    let (mut c, _rx) = connected();
    let (_r, q) = subscribe(&mut c, 1, "t", 2);
    c.message(Message::Subscribed {
        request: 1,
        subscription: 5,
    })
    .unwrap();
    c.disconnected(Loss::Lost);
    c.connected(2, &welcome(true));
    sent(&mut c);
    c.message(Message::Error {
        request_type: code::SUBSCRIBE,
        request: 1,
        details: Dict::new(),
        error: uris::NOT_AUTHORIZED.into(),
        payload: Payload::default(),
    })
    .unwrap();
    assert!(q.is_closed());
    assert_eq!(c.take_ready(), Some(2));
}

#[test]
fn rejected_register_answers_the_waiter() {
    let (mut c, _rx) = connected();
    let mut rx = register(&mut c, 1, "a.b");
    c.message(Message::Error {
        request_type: code::REGISTER,
        request: 1,
        details: Dict::new(),
        error: uris::PROCEDURE_ALREADY_EXISTS.into(),
        payload: Payload::default(),
    })
    .unwrap();
    assert!(matches!(
        rx.try_recv().unwrap(),
        Err(ClientError::Rejected { error, .. }) if error == uris::PROCEDURE_ALREADY_EXISTS
    ));
}

fn registered(c: &mut Core) {
    let _rx = register(c, 100, "com.example");
    let Some(Message::Register { request, .. }) = sent(c).pop() else {
        panic!("expected REGISTER");
    };
    c.message(Message::Registered {
        request,
        registration: 20,
    })
    .unwrap();
}

fn invoke(c: &mut Core, request: Id, details: Dict) -> InvocationJob {
    c.message(Message::Invocation {
        request,
        registration: 20,
        details,
        payload: Payload::args(list![1]),
    })
    .unwrap();
    spawned(c).pop().expect("a job")
}

#[test]
fn invocation_yields_result_and_progress() {
    let (mut c, mut out_rx) = connected();
    registered(&mut c);
    let job = invoke(
        &mut c,
        9,
        dict! {"procedure" => "com.example.x", "caller" => 3, "receive_progress" => true, "timeout" => 1500},
    );
    assert_eq!(job.invocation.procedure, "com.example.x");
    assert_eq!(job.invocation.caller(), Some(3));
    assert_eq!(job.timeout, Some(Duration::from_millis(1500)));
    let progress = job.invocation.progress.clone().expect("progress asked for");
    futures_util::FutureExt::now_or_never(progress.send(Payload::args(list!["p"])))
        .unwrap()
        .unwrap();
    let out = out_rx.try_recv().unwrap();
    c.invocation_output(out);
    c.invocation_output(InvocationOutput {
        epoch: job.epoch,
        request: 9,
        kind: OutputKind::Final(Ok(Payload::args(list!["r"]))),
    });
    assert_eq!(
        sent(&mut c),
        vec![
            Message::Yield {
                request: 9,
                options: dict! {"progress" => true},
                payload: Payload::args(list!["p"])
            },
            Message::Yield {
                request: 9,
                options: Dict::new(),
                payload: Payload::args(list!["r"])
            },
        ]
    );
    // Anything after the final result is dropped.
    c.invocation_output(InvocationOutput {
        epoch: job.epoch,
        request: 9,
        kind: OutputKind::Final(Ok(Payload::default())),
    });
    assert!(sent(&mut c).is_empty());
    // Without receive_progress there is no progress sender; the registered URI is used.
    let job = invoke(&mut c, 10, Dict::new());
    assert!(job.invocation.progress.is_none());
    assert_eq!(job.invocation.procedure, "com.example");
    assert!(c
        .message(Message::Invocation {
            request: 10,
            registration: 20,
            details: Dict::new(),
            payload: Payload::default()
        })
        .is_err());
}

#[test]
fn handler_error_becomes_error_message() {
    let (mut c, _rx) = connected();
    registered(&mut c);
    let job = invoke(&mut c, 9, Dict::new());
    c.invocation_output(InvocationOutput {
        epoch: job.epoch,
        request: 9,
        kind: OutputKind::Final(Err(
            InvocationError::new("com.example.bad").with_args(list![1])
        )),
    });
    assert_eq!(
        sent(&mut c),
        vec![Message::Error {
            request_type: code::INVOCATION,
            request: 9,
            details: Dict::new(),
            error: "com.example.bad".into(),
            payload: Payload::args(list![1])
        }]
    );
}

#[test]
fn interrupt_answers_at_once_and_fires_the_token() {
    let (mut c, _rx) = connected();
    registered(&mut c);
    let job = invoke(&mut c, 9, Dict::new());
    c.message(Message::Interrupt {
        request: 9,
        options: dict! {"mode" => "kill"},
    })
    .unwrap();
    assert!(job.invocation.cancelled.is_cancelled());
    assert_eq!(
        sent(&mut c),
        vec![Message::Error {
            request_type: code::INVOCATION,
            request: 9,
            details: Dict::new(),
            error: uris::CANCELED.into(),
            payload: Payload::default()
        }]
    );
    c.invocation_output(InvocationOutput {
        epoch: job.epoch,
        request: 9,
        kind: OutputKind::Final(Ok(Payload::default())),
    });
    assert!(sent(&mut c).is_empty(), "late result discarded");

    let job = invoke(&mut c, 11, Dict::new());
    c.message(Message::Interrupt {
        request: 11,
        options: dict! {"mode" => "killnowait"},
    })
    .unwrap();
    assert!(job.invocation.cancelled.is_cancelled());
    assert!(sent(&mut c).is_empty(), "killnowait needs no answer");
    // Interrupt for an unknown invocation: ignored.
    c.message(Message::Interrupt {
        request: 99,
        options: Dict::new(),
    })
    .unwrap();
}

#[test]
fn invocation_for_unknown_registration_is_refused() {
    let (mut c, _rx) = connected();
    c.message(Message::Invocation {
        request: 3,
        registration: 404,
        details: Dict::new(),
        payload: Payload::default(),
    })
    .unwrap();
    assert!(matches!(
        &sent(&mut c)[..],
        [Message::Error { request_type: code::INVOCATION, request: 3, error, .. }] if error == uris::NO_SUCH_REGISTRATION
    ));
}

#[test]
fn outputs_from_a_previous_session_are_dropped() {
    let (mut c, _rx) = connected();
    registered(&mut c);
    let job = invoke(&mut c, 9, Dict::new());
    c.disconnected(Loss::Lost);
    assert!(
        job.invocation.cancelled.is_cancelled(),
        "lost session stops handlers"
    );
    c.connected(43, &welcome(true));
    c.message(Message::Registered {
        request: 1,
        registration: 21,
    })
    .unwrap();
    sent(&mut c);
    c.invocation_output(InvocationOutput {
        epoch: job.epoch,
        request: 9,
        kind: OutputKind::Final(Ok(Payload::default())),
    });
    assert!(sent(&mut c).is_empty());
}

#[test]
fn router_revocations_end_handles() {
    let (mut c, _rx) = connected();
    let (_r, q) = subscribe(&mut c, 1, "t", 2);
    c.message(Message::Subscribed {
        request: 1,
        subscription: 5,
    })
    .unwrap();
    c.message(Message::Unsubscribed {
        request: 0,
        details: Some(dict! {"subscription" => 5, "reason" => "wamp.close.killed"}),
    })
    .unwrap();
    assert!(q.is_closed());
    registered(&mut c);
    c.message(Message::Unregistered {
        request: 0,
        details: Some(dict! {"registration" => 20}),
    })
    .unwrap();
    c.message(Message::Invocation {
        request: 1,
        registration: 20,
        details: Dict::new(),
        payload: Payload::default(),
    })
    .unwrap();
    assert!(matches!(&sent(&mut c)[..], [Message::Error { .. }]));
}

#[test]
fn oversized_messages_fail_their_request() {
    let (mut c, _rx) = connected();
    let (mut rx, _) = call(&mut c, 1, "a.b", false);
    let msg = sent(&mut c).pop().unwrap();
    c.too_large(&msg, 2000, 1000);
    assert_eq!(
        rx.try_recv().unwrap(),
        Err(CallError::TooLarge {
            size: 2000,
            limit: 1000
        })
    );
    registered(&mut c);
    let _job = invoke(&mut c, 9, Dict::new());
    let y = Message::Yield {
        request: 9,
        options: Dict::new(),
        payload: Payload::default(),
    };
    c.too_large(&y, 2000, 1000);
    assert!(matches!(
        &sent(&mut c)[..],
        [Message::Error { error, .. }] if error == uris::PAYLOAD_SIZE_EXCEEDED
    ));
}

#[test]
fn shutdown_answers_waiters() {
    let (mut c, _rx) = core();
    let (mut rx, q) = subscribe(&mut c, 1, "t", 2);
    let mut reg = register(&mut c, 2, "p");
    c.shutdown();
    assert_eq!(rx.try_recv().unwrap(), Err(ClientError::Closed));
    assert_eq!(reg.try_recv().unwrap(), Err(ClientError::Closed));
    assert!(q.is_closed());
}

fn add_testament(c: &mut Core, key: u64, topic: &str, scope: TestamentScope) -> UnitRx {
    let (tx, rx) = oneshot::channel();
    let mut testament = Testament::retained(topic, &dict! {"state" => "gone"}).unwrap();
    testament.scope = scope;
    c.command(Command::AddTestament {
        key,
        testament,
        reply: tx,
    });
    rx
}

fn flush_testaments(c: &mut Core, scope: TestamentScope) -> UnitRx {
    let (tx, rx) = oneshot::channel();
    c.command(Command::FlushTestaments { scope, reply: tx });
    rx
}

fn call_to(m: &Message) -> (Id, &str) {
    match m {
        Message::Call {
            request, procedure, ..
        } => (*request, procedure.as_str()),
        other => panic!("not a CALL: {other:?}"),
    }
}

fn answer_call(c: &mut Core, request: Id) {
    c.message(Message::Result {
        request,
        details: Dict::new(),
        payload: Payload::args(list![1]),
    })
    .unwrap();
}

/// Online, `add_testament` waits for the router; every later session files it again
/// before anything else, and is `Established` only once the router took it.
#[test]
fn testaments_are_filed_first_on_every_session() {
    let (mut c, _rx) = connected();
    let mut rx = add_testament(&mut c, 1, "orchard.gnss.status", TestamentScope::Destroyed);
    let msgs = sent(&mut c);
    assert_eq!(
        msgs,
        vec![Message::Call {
            request: 1,
            options: Dict::new(),
            procedure: "wamp.session.add_testament".into(),
            payload: Payload::new(
                list![
                    "orchard.gnss.status",
                    Value::List(vec![]),
                    dict! {"state" => "gone"}
                ],
                dict! {"publish_options" => dict!{"retain" => true}, "scope" => "destroyed"},
            ),
        }]
    );
    assert!(rx.try_recv().is_err(), "waits for the router");
    answer_call(&mut c, 1);
    assert_eq!(rx.try_recv().unwrap(), Ok(()));

    let (_sub, _q) = subscribe(&mut c, 2, "com.example.fix", 8);
    sent(&mut c);
    c.disconnected(Loss::Lost);
    c.connected(7, &welcome(true));
    let msgs = sent(&mut c);
    assert_eq!(call_to(&msgs[0]), (1, "wamp.session.add_testament"));
    assert!(matches!(msgs[1], Message::Subscribe { request: 2, .. }));
    c.message(Message::Subscribed {
        request: 2,
        subscription: 5,
    })
    .unwrap();
    assert_eq!(
        c.take_ready(),
        None,
        "not ready before the testament is filed"
    );
    answer_call(&mut c, 1);
    assert_eq!(c.take_ready(), Some(7));
}

#[test]
fn offline_testaments_answer_at_once_and_refused_ones_are_dropped() {
    let (mut c, _rx) = core();
    let mut rx = add_testament(&mut c, 1, "com.a", TestamentScope::Destroyed);
    assert_eq!(
        rx.try_recv().unwrap(),
        Ok(()),
        "offline: kept for the next session"
    );
    assert!(sent(&mut c).is_empty());
    c.connected(9, &welcome(true));
    let msgs = sent(&mut c);
    assert_eq!(call_to(&msgs[0]), (1, "wamp.session.add_testament"));
    // A router without the testament meta API refuses: dropped, the session goes on.
    c.message(Message::Error {
        request_type: code::CALL,
        request: 1,
        details: Dict::new(),
        error: uris::NO_SUCH_PROCEDURE.into(),
        payload: Payload::default(),
    })
    .unwrap();
    assert_eq!(c.take_ready(), Some(9));
    c.disconnected(Loss::Lost);
    c.connected(10, &welcome(true));
    assert!(sent(&mut c).is_empty(), "not filed again");

    // Online refusal reaches the caller.
    let mut rx = add_testament(&mut c, 2, "com.a", TestamentScope::Destroyed);
    let (request, _) = call_to(&sent(&mut c)[0]);
    c.message(Message::Error {
        request_type: code::CALL,
        request,
        details: Dict::new(),
        error: uris::INVALID_URI.into(),
        payload: Payload::default(),
    })
    .unwrap();
    assert!(matches!(
        rx.try_recv().unwrap(),
        Err(ClientError::Rejected { error, .. }) if error == uris::INVALID_URI
    ));
}

#[test]
fn flushing_forgets_a_scope_here_and_on_the_router() {
    let (mut c, _rx) = connected();
    add_testament(&mut c, 1, "com.a", TestamentScope::Destroyed);
    add_testament(&mut c, 2, "com.b", TestamentScope::Detached);
    answer_call(&mut c, 1);
    answer_call(&mut c, 2);
    sent(&mut c);
    let mut rx = flush_testaments(&mut c, TestamentScope::Destroyed);
    assert_eq!(
        sent(&mut c),
        vec![Message::Call {
            request: 3,
            options: Dict::new(),
            procedure: "wamp.session.flush_testaments".into(),
            payload: Payload::new(vec![], dict! {"scope" => "destroyed"}),
        }]
    );
    answer_call(&mut c, 3);
    assert_eq!(rx.try_recv().unwrap(), Ok(()));
    // Only the detached one is filed on the next session.
    c.disconnected(Loss::Lost);
    c.connected(11, &welcome(true));
    let msgs = sent(&mut c);
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        msgs[0],
        Message::Call {
            request: 1,
            options: Dict::new(),
            procedure: "wamp.session.add_testament".into(),
            payload: Payload::new(
                list!["com.b", Value::List(vec![]), dict! {"state" => "gone"}],
                dict! {"publish_options" => dict!{"retain" => true}, "scope" => "detached"},
            ),
        }
    );
    answer_call(&mut c, 1);
    // A flush the router never confirmed: the session ended, it may have published.
    let mut rx = flush_testaments(&mut c, TestamentScope::Detached);
    assert_eq!(call_to(&sent(&mut c)[0]).1, "wamp.session.flush_testaments");
    c.disconnected(Loss::Lost);
    assert_eq!(rx.try_recv().unwrap(), Err(ClientError::ConnectionLost));
    // Offline: forgotten locally, at once.
    let mut rx = flush_testaments(&mut c, TestamentScope::Detached);
    assert_eq!(rx.try_recv().unwrap(), Ok(()));
    c.connected(12, &welcome(true));
    assert!(sent(&mut c).is_empty());
}
