//! The lighttpd configuration language on a real corpus: Debian's lighttpd.conf (with its
//! include_shell Perl helpers and conf-enabled glob), every file of conf-available, and our own
//! edge cases. Each parses, and printing then parsing again gives the same printout.

use std::path::Path;

use relight::config::lighttpd::{Value, parse_file, parse_str, print::print};

fn round_trip(c: &relight::config::lighttpd::LighttpdConfig, what: &str) {
    let printed = print(c);
    let again = parse_str(&printed, "printed.conf", Path::new("/"))
        .unwrap_or_else(|e| panic!("{what}: the printout does not parse: {e}\n{printed}"));
    assert_eq!(print(&again), printed, "{what}: printing is not stable");
    assert_eq!(again.global().settings.len(), c.global().settings.len());
}

#[test]
fn debian_lighttpd_conf() {
    let c = parse_file(Path::new("/etc/lighttpd/lighttpd.conf"))
        .expect("Debian's lighttpd.conf parses");
    let g = c.global();
    assert_eq!(
        g.get("server.document-root"),
        Some(&Value::Str("/var/www/html".into()))
    );
    assert_eq!(g.get("server.port"), Some(&Value::Int(80)));
    // include_shell create-mime.conf.pl filled mimetype.assign from /etc/mime.types.
    let mime = g
        .get("mimetype.assign")
        .expect("mimetype.assign from include_shell");
    assert_eq!(mime.get(".html"), Some(&Value::Str("text/html".into())));
    let modules = g.get("server.modules").unwrap().as_array().unwrap();
    assert!(
        modules
            .iter()
            .any(|(_, m)| m.as_str() == Some("mod_staticfile"))
    );
    round_trip(&c, "lighttpd.conf");
}

#[test]
fn every_debian_conf_available_file() {
    let dir = Path::new("/etc/lighttpd/conf-available");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "conf") {
            continue;
        }
        // They expect the main file's variables and modules list around them.
        let text = format!(
            "server.modules = ()\nserver.document-root = \"/var/www/html\"\nserver.port = 80\nvar.confdir = \"/etc/lighttpd\"\ninclude \"{}\"\n",
            p.display()
        );
        let c = parse_str(&text, "wrapper.conf", Path::new("/etc/lighttpd"))
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        round_trip(&c, &p.display().to_string());
        n += 1;
    }
    assert!(n >= 20, "only {n} files in conf-available");
}

#[test]
fn edge_cases() {
    let text = r#"
# comments, trailing commas, nested arrays, every operator, else chains
var.app = "/usr/lib/app"
server.modules = ( "mod_fastcgi", "mod_access", )
fastcgi.server = (
    "/app" => ((
        "bin-path" => var.app + "/app.fcgi",
        "socket" => "/run/app.sock",
        "max-procs" => 4,
        "check-local" => "disable",
        "bin-environment" => ( "A" => "1", ),
    ),),
)
$HTTP["url"] =^ "/admin" {
    url.access-deny = ( "" )
} else $HTTP["url"] =$ ".inc" {
    url.access-deny = ( ".inc" )
} else {
    server.tag = "x"
}
$SERVER["socket"] == ":8080" { $HTTP["remoteip"] != "127.0.0.1" { server.max-keep-alive-idle = 0 } }
"#;
    let c = parse_str(text, "edge.conf", Path::new("/")).unwrap();
    let fcgi = c.global().get("fastcgi.server").unwrap();
    let host = &fcgi.get("/app").unwrap().as_array().unwrap()[0].1;
    assert_eq!(
        host.get("bin-path"),
        Some(&Value::Str("/usr/lib/app/app.fcgi".into()))
    );
    assert_eq!(host.get("max-procs"), Some(&Value::Int(4)));
    assert_eq!(c.blocks.len(), 6);
    round_trip(&c, "edge cases");
}
