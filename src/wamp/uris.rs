//! Error and close reason URIs defined by the spec (basic/uri_reference.md and the
//! advanced profile), in one place so that peers see exactly the spec's spelling.

/// `wamp.error.no_such_realm`
pub const NO_SUCH_REALM: &str = "wamp.error.no_such_realm";
/// `wamp.error.protocol_violation`
pub const PROTOCOL_VIOLATION: &str = "wamp.error.protocol_violation";
/// `wamp.error.invalid_uri`
pub const INVALID_URI: &str = "wamp.error.invalid_uri";
/// `wamp.error.invalid_argument`
pub const INVALID_ARGUMENT: &str = "wamp.error.invalid_argument";
/// `wamp.error.no_such_procedure`
pub const NO_SUCH_PROCEDURE: &str = "wamp.error.no_such_procedure";
/// `wamp.error.procedure_already_exists`
pub const PROCEDURE_ALREADY_EXISTS: &str = "wamp.error.procedure_already_exists";
/// `wamp.error.no_such_registration`
pub const NO_SUCH_REGISTRATION: &str = "wamp.error.no_such_registration";
/// `wamp.error.no_such_subscription`
pub const NO_SUCH_SUBSCRIPTION: &str = "wamp.error.no_such_subscription";
/// `wamp.error.no_such_session`
pub const NO_SUCH_SESSION: &str = "wamp.error.no_such_session";
/// `wamp.error.no_such_role`
pub const NO_SUCH_ROLE: &str = "wamp.error.no_such_role";
/// `wamp.error.no_such_principal`
pub const NO_SUCH_PRINCIPAL: &str = "wamp.error.no_such_principal";
/// `wamp.error.not_authorized`
pub const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
/// `wamp.error.authorization_failed`
pub const AUTHORIZATION_FAILED: &str = "wamp.error.authorization_failed";
/// `wamp.error.authentication_failed`
pub const AUTHENTICATION_FAILED: &str = "wamp.error.authentication_failed";
/// `wamp.error.no_auth_method`
pub const NO_AUTH_METHOD: &str = "wamp.error.no_auth_method";
/// `wamp.error.canceled`
pub const CANCELED: &str = "wamp.error.canceled";
/// `wamp.error.timeout`
pub const TIMEOUT: &str = "wamp.error.timeout";
/// `wamp.error.option_not_allowed`
pub const OPTION_NOT_ALLOWED: &str = "wamp.error.option_not_allowed";
/// `wamp.error.option_disallowed.disclose_me`
pub const OPTION_DISALLOWED_DISCLOSE_ME: &str = "wamp.error.option_disallowed.disclose_me";
/// `wamp.error.network_failure`
pub const NETWORK_FAILURE: &str = "wamp.error.network_failure";
/// `wamp.error.unavailable`
pub const UNAVAILABLE: &str = "wamp.error.unavailable";
/// `wamp.error.no_available_callee`
pub const NO_AVAILABLE_CALLEE: &str = "wamp.error.no_available_callee";
/// `wamp.error.feature_not_supported`
pub const FEATURE_NOT_SUPPORTED: &str = "wamp.error.feature_not_supported";
/// `wamp.error.payload_size_exceeded`
pub const PAYLOAD_SIZE_EXCEEDED: &str = "wamp.error.payload_size_exceeded";

/// `wamp.close.normal`
pub const CLOSE_NORMAL: &str = "wamp.close.normal";
/// `wamp.close.goodbye_and_out`
pub const CLOSE_GOODBYE_AND_OUT: &str = "wamp.close.goodbye_and_out";
/// `wamp.close.system_shutdown`
pub const CLOSE_SYSTEM_SHUTDOWN: &str = "wamp.close.system_shutdown";
/// `wamp.close.close_realm`
pub const CLOSE_CLOSE_REALM: &str = "wamp.close.close_realm";
/// `wamp.close.killed`
pub const CLOSE_KILLED: &str = "wamp.close.killed";
/// Not in the spec: the router closed a session whose outbound queue overflowed.
pub const CLOSE_SLOW_CONSUMER: &str = "verger.close.slow_consumer";
