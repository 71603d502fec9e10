// The pidfile: who runs with this configuration. A second start is refused while the first is
// alive, unless it takes over (-R); at exit a process removes the file only if it is still its.
#pragma once

#include <string>

namespace pooler::app {

// The pid the file names if that process is alive; 0 otherwise (no file, garbage, stale).
int running_pid(const std::string& path);
// Writes this process's pid; false if the file cannot be written.
bool write_pidfile(const std::string& path);
// Removes the file if it still names this process (a successor may have rewritten it).
void remove_pidfile_if_ours(const std::string& path);

}  // namespace pooler::app
