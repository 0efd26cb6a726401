//! A small axum router with two routes, served as a FastCGI application.
use axum::Router;
use axum::routing::{get, post};

fn main() {
    let app = Router::new()
        .route("/", get(|| async { "Hello from axum over fcgi-app\n" }))
        .route(
            "/echo",
            post(|body: String| async move { format!("echo: {body}") }),
        );
    if let Err(e) = fcgi_app::tower::run(app) {
        eprintln!("axum: {e}");
        std::process::exit(1);
    }
}
