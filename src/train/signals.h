// Clean stops on SIGINT/SIGTERM: while a StopSignalScope is alive the handlers only set one
// async-signal-safe flag (the single piece of global state, kept in signals.cpp); the trainer
// polls stop_requested() once per step, saves a checkpoint and returns. The handler resets itself
// (SA_RESETHAND), so a second Ctrl-C still kills a stuck process.
#pragma once
#include <csignal>

namespace primus::train {

class StopSignalScope {
 public:
  StopSignalScope();    // installs the handlers and clears the flag
  ~StopSignalScope();   // restores the previous handlers
  StopSignalScope(const StopSignalScope&) = delete;
  StopSignalScope& operator=(const StopSignalScope&) = delete;

 private:
  struct sigaction old_int_{}, old_term_{};
};

bool stop_requested();
int stop_signal();            // the signal number that asked to stop, 0 if none
void request_stop(int sig);   // what the handler does; tests call it directly
void clear_stop();

}  // namespace primus::train
