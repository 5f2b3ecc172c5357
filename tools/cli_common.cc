#include "tools/cli_common.h"

#include <iostream>

#include "node/key_files.h"

namespace magpie {

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case Status::Code::kOk:
      return kExitOk;
    case Status::Code::kUnavailable:
    case Status::Code::kBusy:
    case Status::Code::kIOError:
      return kExitUnreachable;
    default:
      return kExitUsage;
  }
}

int ReportError(const Status& status) {
  // One line, so scripts can grep it and a terminal shows it whole.
  std::string msg = status.message().empty() ? status.ToString() : status.message();
  for (char& c : msg) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::cerr << "magpie: " << msg << std::endl;
  return ExitCodeFor(status);
}

int ReportUsage(const std::string& message) {
  ReportError(Status::InvalidArgument(message));
  return kExitUsage;
}

Result<ClientSecurity> ClientSecurityOf(const GlobalOptions& global) {
  ClientSecurity security;
  if (global.insecure) return security;
  Status curve = CheckCurveSupport();
  if (!curve.ok()) return curve;
  KeyLocation where;
  auto key = LoadClientKey(global.cluster_key, KeyEnvironment::FromProcess(), &where);
  if (!key.ok()) return key.status();
  if (!key->warning.empty()) std::cerr << "magpie: warning: " << key->warning << std::endl;
  security = ClientSecurityFor(*key);
  security.key_source = where.Describe();
  return security;
}

Result<std::unique_ptr<Client>> ConnectToNode(const GlobalOptions& global) {
  auto security = ClientSecurityOf(global);
  if (!security.ok()) return security.status();
  return Client::Connect(global.node, *security);
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace magpie
