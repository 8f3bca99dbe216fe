// Boost.Beast lives in this file only: it is the slowest header set in the build to compile.
#include "api/https_server.h"

#include <pthread.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>  // before any Asio header: Boost 1.74 Asio uses std::exchange (NOTES.md)

#include "api/router.h"
#include "common/log.h"

namespace shoal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using ErrorCodeB = boost::system::error_code;

namespace {

constexpr size_t kBodyLimit = 64 * 1024;  // GET only: any body is a mistake or an attack

std::string sslReason() {
  unsigned long code = ERR_peek_last_error();
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  ERR_clear_error();
  return reason != nullptr ? reason : "unknown reason";
}

// Every file is checked here, at start and at reload, so a bad file fails loudly and early
// rather than at the first handshake.
Result<std::shared_ptr<ssl::context>> makeContext(const HttpsServer::Options& o) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::single_dh_use);
  if (SSL_CTX_use_certificate_chain_file(native, o.cert_file.c_str()) != 1) {
    return fail(ErrorCode::kInvalid,
                "api: server certificate " + o.cert_file + ": cannot load (" + sslReason() + ")");
  }
  if (SSL_CTX_use_PrivateKey_file(native, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail(ErrorCode::kInvalid,
                "api: server key " + o.key_file + ": cannot load (" + sslReason() + ")");
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return fail(ErrorCode::kInvalid,
                "api: server key " + o.key_file + " does not match the certificate " + o.cert_file);
  }
  // The trust store holds the operator CA and nothing else: node certificates are refused.
  if (SSL_CTX_load_verify_locations(native, o.client_ca_file.c_str(), nullptr) != 1) {
    return fail(ErrorCode::kInvalid,
                "api: client CA " + o.client_ca_file + ": cannot load (" + sslReason() + ")");
  }
  if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str())) {
    SSL_CTX_set_client_CA_list(native, names);  // tells clients which certificate to present
  }
  ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  return ctx;
}

std::string peerName(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return "-";
  char buf[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}

}  // namespace

namespace https_detail {

class Session;

// The server's state. `HttpsServer::Impl` is this; it has a name of its own so `Session` can see
// it.
struct Core {
  using Options = HttpsServer::Options;
  Core(Options o, HttpsServer::Handler h) : options(std::move(o)), handler(std::move(h)) {}
  void accept();
  void onAccept(ErrorCodeB ec, tcp::socket socket);
  bool makeRoom();
  void closeAll();
  std::shared_ptr<ssl::context> context() {
    std::lock_guard lock(context_mu);
    return ssl_context;
  }

  // Declared before `ioc`, so they outlive it: destroying `ioc` destroys the handlers still
  // pending after `stop()`, and with them the last sessions, whose destructors touch these.
  Options options;
  HttpsServer::Handler handler;
  std::shared_ptr<spdlog::logger> log = logger("api");
  std::atomic<uint16_t> bound_port{0};
  std::atomic<int> open{0};
  std::list<Session*> sessions;  // accept order; touched on the I/O thread only
  std::mutex context_mu;
  // Shared with every session made from it: a reload swaps this pointer while open connections
  // keep the context they were made with.
  std::shared_ptr<ssl::context> ssl_context;  // GUARDED_BY(context_mu)
  bool started = false;

  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_retry{ioc};
  std::thread thread;
};

// One connection. Owned by the handlers of its pending asynchronous operation (the usual Asio
// shape: `shared_from_this` in every handler); when an operation ends without starting another,
// the last reference goes and the destructor closes the socket.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<ssl::context> ctx, Core& server)
      : ctx_(std::move(ctx)),
        stream_(beast::tcp_stream(std::move(socket)), *ctx_),
        server_(server) {
    where_ = server_.sessions.insert(server_.sessions.end(), this);
    ++server_.open;
  }
  ~Session() {
    unregister();
    --server_.open;
  }

  void run() {
    beast::get_lowest_layer(stream_).expires_after(server_.options.handshake_timeout);
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](ErrorCodeB ec) { self->onHandshake(ec); });
  }
  bool handshaken() const { return handshaken_; }
  // Closes the socket now; the pending operation fails and the session goes away.
  void abort() {
    unregister();
    ErrorCodeB ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

 private:
  void unregister() {
    if (registered_) server_.sessions.erase(where_);
    registered_ = false;
  }
  void onHandshake(ErrorCodeB ec) {
    if (ec) {
      // A TLS error (unknown CA, no certificate) is someone trying and failing: worth an info
      // line. Silence, resets and timeouts are scanners and health checks: debug.
      bool tls = ec.category() == asio::error::get_ssl_category();
      ErrorCodeB ignored;
      auto from = beast::get_lowest_layer(stream_).socket().remote_endpoint(ignored);
      std::string why = ec.message();
      long verify = SSL_get_verify_result(stream_.native_handle());
      if (tls && verify != X509_V_OK)
        why += std::string(": ") + X509_verify_cert_error_string(verify);
      server_.log->log(tls ? spdlog::level::info : spdlog::level::debug,
                       "refused a connection from {}:{} during the TLS handshake: {}",
                       from.address().to_string(), from.port(), why);
      return;  // the socket closes with the session
    }
    handshaken_ = true;
    peer_ = peerName(stream_.native_handle());
    readRequest();
  }
  void readRequest() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    beast::get_lowest_layer(stream_).expires_after(server_.options.request_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](ErrorCodeB ec, size_t) { self->onRead(ec); });
  }
  void onRead(ErrorCodeB ec) {
    if (ec == http::error::end_of_stream) return shutdown();
    if (ec && ec.category() == http::make_error_code(http::error::end_of_stream).category()) {
      return respond(errorResponse(400, "bad HTTP request: " + ec.message()), false);
    }
    if (ec) return;  // timeout, reset: just close
    const auto& req = parser_->get();
    ApiResponse r = server_.handler({std::string(req.method_string()), std::string(req.target())});
    server_.log->debug("{} {} {} -> {}", peer_, std::string(req.method_string()),
                       std::string(req.target()), r.status);
    respond(std::move(r), req.keep_alive());
  }
  void respond(ApiResponse r, bool keep_alive) {
    response_ = {};
    response_.result(static_cast<unsigned>(r.status));
    response_.version(11);
    response_.set(http::field::server, "shoal");
    response_.set(http::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) response_.set(name, value);
    response_.body() = std::move(r.body);
    response_.keep_alive(keep_alive);
    response_.prepare_payload();
    http::async_write(stream_, response_,
                      [self = shared_from_this(), keep_alive](ErrorCodeB ec, size_t) {
                        if (ec) return;
                        if (keep_alive) return self->readRequest();
                        self->shutdown();
                      });
  }
  void shutdown() {
    beast::get_lowest_layer(stream_).expires_after(server_.options.handshake_timeout);
    stream_.async_shutdown([self = shared_from_this()](ErrorCodeB) {});
  }

  std::shared_ptr<ssl::context> ctx_;  // see Core::ssl_context
  beast::ssl_stream<beast::tcp_stream> stream_;
  Core& server_;
  std::list<Session*>::iterator where_;
  bool registered_ = true;
  bool handshaken_ = false;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
};

void Core::accept() {
  acceptor.async_accept(
      [this](ErrorCodeB ec, tcp::socket socket) { onAccept(ec, std::move(socket)); });
}

// Evicts the oldest connection still in its handshake; false when every one has finished it.
bool Core::makeRoom() {
  if (static_cast<int>(sessions.size()) < options.max_connections) return true;
  for (Session* s : sessions) {
    if (!s->handshaken()) {
      s->abort();
      return true;
    }
  }
  return false;
}

void Core::onAccept(ErrorCodeB ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted) return;  // stopping
  if (ec) {
    // Out of file descriptors, most likely: wait a little instead of spinning on the error.
    log->warn("accept on port {}: {}", bound_port.load(), ec.message());
    accept_retry.expires_after(std::chrono::milliseconds(100));
    accept_retry.async_wait([this](ErrorCodeB e) {
      if (!e) accept();
    });
    return;
  }
  ErrorCodeB ignored;
  socket.set_option(tcp::no_delay(true), ignored);  // else every response waits ~40 ms
  if (makeRoom()) {
    std::make_shared<Session>(std::move(socket), context(), *this)->run();
  } else {
    log->warn("refused a connection: {} connections open, all past their handshake",
              sessions.size());
  }
  accept();
}

void Core::closeAll() {
  ErrorCodeB ignored;
  acceptor.close(ignored);
  accept_retry.cancel();
  while (!sessions.empty()) sessions.front()->abort();
}

}  // namespace https_detail

struct HttpsServer::Impl : https_detail::Core {
  using Core::Core;
};

HttpsServer::HttpsServer(Options options, ApiBackend& backend)
    : impl_(std::make_unique<Impl>(std::move(options),
                                   [&backend](const ApiRequest& r) { return routeRequest(r, backend); })) {}

HttpsServer::HttpsServer(Options options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpsServer::~HttpsServer() { stop(); }

Status HttpsServer::start() {
  Impl& s = *impl_;
  if (s.started) return fail(ErrorCode::kInternal, "api: HttpsServer::start called twice");
  auto ctx = makeContext(s.options);
  if (!ctx) return std::unexpected(ctx.error());
  s.ssl_context = std::move(*ctx);
  ErrorCodeB ec;
  auto address = asio::ip::make_address(s.options.address, ec);
  if (ec)
    return fail(ErrorCode::kInvalid,
                "api: listen address '" + s.options.address + "': " + ec.message());
  tcp::endpoint endpoint(address, s.options.port);
  std::string where = s.options.address + ":" + std::to_string(s.options.port);
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return fail(ErrorCode::kUnavailable, "api: listen on " + where + ": " + ec.message(), true);
  s.bound_port = s.acceptor.local_endpoint().port();
  s.started = true;
  s.accept();
  s.thread = std::thread([&s] {
    pthread_setname_np(pthread_self(), "shoal-api");
    s.ioc.run();
  });
  logger("api")->info("serving HTTPS on {}:{} (clients of {})", s.options.address,
                      s.bound_port.load(), s.options.client_ca_file);
  return ok();
}

uint16_t HttpsServer::port() const { return impl_->bound_port.load(); }

void HttpsServer::stop() {
  Impl& s = *impl_;
  if (!s.thread.joinable()) return;
  asio::post(s.ioc, [&s] {
    s.closeAll();
    s.ioc.stop();
  });
  s.thread.join();
}

Status HttpsServer::reloadCertificate() {
  auto ctx = makeContext(impl_->options);
  if (!ctx) return std::unexpected(ctx.error());
  std::lock_guard lock(impl_->context_mu);
  impl_->ssl_context = std::move(*ctx);
  logger("api")->info("reloaded the server certificate {}", impl_->options.cert_file);
  return ok();
}

int HttpsServer::openConnectionsForTest() const { return impl_->open.load(); }

}  // namespace shoal
