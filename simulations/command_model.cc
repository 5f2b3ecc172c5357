#include "simulations/command_model.h"

namespace magpie {

namespace {

// What fork and exec cost before a trivial program ends.
Duration ForkCost(Prng& prng) { return Duration::Micros(prng.Between(200, 20'000)); }

// Log-uniform in [1 ms, 10 s]: most work is short, some is long, the way real jobs are.
Duration DrawWork(Prng& prng) {
  int64_t decade_us = 1000;
  for (int64_t d = prng.Between(0, 3); d > 0; --d) decade_us *= 10;
  return Duration::Micros(prng.Between(decade_us, decade_us * 10));
}

}  // namespace

std::optional<int64_t> ParseSecondsMicros(const std::string& text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  int64_t whole = 0;
  int64_t frac = 0;
  int frac_digits = -1;  // -1: no '.' seen
  for (char c : text) {
    if (c == '.') {
      if (frac_digits >= 0) return std::nullopt;
      frac_digits = 0;
      continue;
    }
    if (c < '0' || c > '9') return std::nullopt;
    if (frac_digits < 0) {
      whole = whole * 10 + (c - '0');
      if (whole > 86400LL * 365) return std::nullopt;
    } else if (frac_digits < 6) {
      frac = frac * 10 + (c - '0');
      ++frac_digits;
    }
  }
  if (frac_digits == 0 && text.size() == 1) return std::nullopt;  // "."
  for (int d = frac_digits < 0 ? 0 : frac_digits; d < 6; ++d) frac *= 10;
  return whole * 1'000'000 + frac;
}

ProcessPlan PlanProcess(const std::vector<std::string>& command, Prng& prng) {
  ProcessPlan plan;
  const std::string& program = command.empty() ? std::string() : command[0];
  const std::string arg = command.size() > 1 ? command[1] : std::string();
  if (program == "@noop" || program == "@fail") {
    plan.runs_for = Duration::Zero();  // built-ins fork nothing and end in the same turn
    plan.exit_code = program == "@noop" ? 0 : 1;
  } else if (program == "@sleep") {
    auto us = ParseSecondsMicros(arg);
    if (!us) {
      plan.start_fails = true;
      plan.error = "@sleep needs a number of seconds between 0 and a year, not '" + arg + "'";
    } else {
      plan.runs_for = Duration::Micros(*us);
    }
  } else if (program == "true" || program == "false") {
    plan.runs_for = ForkCost(prng);
    plan.exit_code = program == "true" ? 0 : 1;
  } else if (program == "sleep") {
    auto us = ParseSecondsMicros(arg);
    plan.runs_for = ForkCost(prng) + Duration::Micros(us.value_or(0));
    plan.exit_code = us ? 0 : 1;  // sleep: invalid time interval
  } else if (program == "exit") {
    plan.runs_for = ForkCost(prng);
    auto code = ParseSecondsMicros(arg);
    plan.exit_code = code ? static_cast<int32_t>(*code / 1'000'000 % 256) : 2;
  } else if (program == "flaky") {
    auto pct = ParseSecondsMicros(arg);
    const uint64_t p = pct ? static_cast<uint64_t>(*pct / 1'000'000) : 50;
    // Two draws, two statements: the operands of + are unsequenced.
    plan.runs_for = ForkCost(prng);
    plan.runs_for = plan.runs_for + Duration::Micros(prng.Between(0, 200'000));
    plan.exit_code = prng.Chance(p > 100 ? 100 : p, 100) ? 1 : 0;
  } else if (program.rfind("missing-", 0) == 0) {
    plan.start_fails = true;
    plan.error = "cannot run '" + program + "': no such file or directory";
  } else {
    plan.runs_for = DrawWork(prng);
    if (prng.Chance(1, 100)) {
      plan.signal = 11;
      plan.exit_code = -1;
    } else if (!prng.Chance(9, 10)) {
      plan.exit_code = static_cast<int32_t>(prng.Between(1, 3));
    }
  }
  return plan;
}

}  // namespace magpie
