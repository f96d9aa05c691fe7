//! `seaf-backup-test-services exit|kill`: starts the harness's MariaDB and Redis, prints
//! `SERVERS <mariadb pid> <port> <redis pid> <port> <mariadb dir>`, then exits normally (`exit`:
//! exit hooks run, destructors do not) or is killed (`kill`: nothing runs). The harness's own test
//! checks that both servers die with it either way.

use seaf_backup_tests::{MariaDb, Redis};

fn main() {
    let how = std::env::args().nth(1).unwrap_or_else(|| "exit".into());
    let server = MariaDb::shared();
    // Inside the server's directory, which the exit hook removes.
    let dir = server.dir().expect("a MariaDB of our own").join("redis");
    std::fs::create_dir(&dir).expect("creating the Redis directory");
    let redis = Redis::start(&dir);
    println!(
        "SERVERS {} {} {} {} {}",
        server.pid().expect("own server"),
        server.port().expect("own server"),
        redis.pid(),
        redis.port(),
        server.dir().expect("own server").display()
    );
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::mem::forget(redis);
    match how.as_str() {
        // SAFETY: signals this very process.
        "kill" => unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        },
        _ => std::process::exit(0),
    }
}
