//! Transports that carry serialized WAMP messages: WebSocket and RawSocket (TCP and
//! Unix domain socket), server side (accept) and client side (connect).
