//! Error replies in Redis 7.0's exact words, defined once.
//!
//! Fixed messages are constants; messages with arguments are functions. All
//! of them start with the error code the client sees (`ERR`, `WRONGTYPE`…).

pub const SYNTAX: &str = "ERR syntax error";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const DB_INDEX_RANGE: &str = "ERR DB index is out of range";
pub const SELECT_CLUSTER: &str = "ERR SELECT is not allowed in cluster mode";
pub const OUT_OF_RANGE: &str = "ERR value is out of range, must be positive";
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
pub const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
pub const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const INVALID_PASSWORD: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const AUTH_NOT_CONFIGURED: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
pub const MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
pub const DEBUG_DISABLED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// `ERR wrong number of arguments for 'get' command`
pub fn wrong_args(full_name: &str) -> String {
    format!("ERR wrong number of arguments for '{full_name}' command")
}

/// `ERR unknown command 'foo', with args beginning with: 'a' 'b' `
pub fn unknown_command(argv: &[bytes::Bytes]) -> String {
    let name = String::from_utf8_lossy(&argv[0]);
    let name: String = name.chars().take(128).collect();
    let mut args = String::new();
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let text = String::from_utf8_lossy(a);
        let text: String = text.chars().take(room).collect();
        args.push('\'');
        args.push_str(&text);
        args.push_str("' ");
    }
    format!("ERR unknown command '{name}', with args beginning with: {args}")
}

/// `ERR unknown subcommand 'x'. Try CONFIG HELP.`
pub fn unknown_subcommand(container: &str, sub: &[u8]) -> String {
    let sub = String::from_utf8_lossy(sub);
    let sub: String = sub.chars().take(128).collect();
    format!(
        "ERR unknown subcommand '{sub}'. Try {} HELP.",
        container.to_uppercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn unknown_command_text() {
        let argv = vec![Bytes::from("foo"), Bytes::from("a"), Bytes::from("b")];
        assert_eq!(
            unknown_command(&argv),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            unknown_command(&argv[..1]),
            "ERR unknown command 'foo', with args beginning with: "
        );
    }
}
