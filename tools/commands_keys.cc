// `magpie keygen` and `magpie token`: the keys of docs/security.md. Neither talks to a node.
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <memory>

#include "node/key_files.h"
#include "tools/commands.h"

namespace magpie {

namespace {

struct KeygenFlags {
  std::string out;
  bool client = false;
};

// `magpie keygen > FILE` must not leave a secret readable by everyone (the shell made FILE
// with the umask's mode): a regular file of ours on stdout is narrowed to 0600.
void NarrowStdoutFile() {
  struct stat st;
  if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()) {
    fchmod(STDOUT_FILENO, 0600);
  }
}

int Emit(const std::string& text, const std::string& out, const std::string& what) {
  if (out.empty()) {
    NarrowStdoutFile();
    std::cout << text << std::flush;
    return kExitOk;
  }
  Status s = WriteNewKeyFile(out, text);
  if (!s.ok()) {
    if (s.code() == Status::Code::kAlreadyExists) {
      return ReportUsage(out + " already exists; a key file is never overwritten (remove it "
                               "first if you mean to replace it)");
    }
    return ReportError(s);
  }
  std::cerr << "magpie: wrote " << what << " to " << out << " (mode 0600)" << std::endl;
  return kExitOk;
}

int RunKeygen(const KeygenFlags& f, const GlobalOptions& global) {
  Status curve = CheckCurveSupport();
  if (!curve.ok()) return ReportError(curve);
  if (!f.client) {
    return Emit(FormatClusterSecret(NewClusterSecret()), f.out, "a new cluster key");
  }
  // A client key for the cluster whose key we hold: its server key and a keypair of its own.
  KeyLocation where;
  auto key = LoadClientKey(global.cluster_key, KeyEnvironment::FromProcess(), &where);
  if (!key.ok()) return ReportError(key.status());
  const std::string server_public =
      key->secret ? DeriveClusterKeys(*key->secret).server.public_z85 : key->server_public_z85;
  CurveKeyPair client = NewCurveKeyPair();
  int rc = Emit(FormatClientKeyFile(server_public, client), f.out, "a new client key");
  if (rc == kExitOk) {
    std::cerr << "magpie: add this line to the --allow-keys file of the nodes of "
              << where.Describe() << ":\n"
              << client.public_z85 << std::endl;
  }
  return rc;
}

int RunToken(const GlobalOptions& global) {
  Status curve = CheckCurveSupport();
  if (!curve.ok()) return ReportError(curve);
  KeyLocation where;
  auto key = LoadClientKey(global.cluster_key, KeyEnvironment::FromProcess(), &where);
  if (!key.ok()) return ReportError(key.status());
  if (!key->secret) {
    return ReportUsage(where.Describe() +
                       " is a client key: the HTTP token comes from the cluster key itself, so "
                       "ask whoever holds it to run 'magpie token'");
  }
  std::cout << DeriveClusterKeys(*key->secret).http_token << std::endl;
  return kExitOk;
}

}  // namespace

CommandRunner AddKeygenCommand(CLI::App* app, const GlobalOptions* global) {
  auto f = std::make_shared<KeygenFlags>();
  CLI::App* sub = app->add_subcommand(
      "keygen",
      "Make a new cluster key (64 hex digits) and print it, or write it to --out FILE; copy the "
      "file to every machine of the cluster. Printed into a file (> FILE), that file is made "
      "mode 0600");
  sub->fallthrough();
  sub->add_option("--out", f->out, "Write the key to this new file (mode 0600), never overwriting");
  sub->add_flag("--client", f->client,
                "Make a client key instead: a keypair of its own for the cluster whose key this "
                "command finds, to be listed in the nodes' --allow-keys (and removed from it to "
                "revoke)");
  return [f, global] { return RunKeygen(*f, *global); };
}

CommandRunner AddTokenCommand(CLI::App* app, const GlobalOptions* global) {
  CLI::App* sub = app->add_subcommand(
      "token",
      "Print the HTTP API's bearer token, derived from the cluster key: send it as "
      "'Authorization: Bearer TOKEN'");
  sub->fallthrough();
  return [global] { return RunToken(*global); };
}

}  // namespace magpie
