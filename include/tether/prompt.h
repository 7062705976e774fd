#pragma once

#include <optional>
#include <string>

namespace tether {

/// How a question reaches the user, decided as ssh(1) does: SSH_ASKPASS when
/// SSH_ASKPASS_REQUIRE=force, or when there is no terminal and SSH_ASKPASS is set (or
/// SSH_ASKPASS_REQUIRE=prefer); otherwise /dev/tty; never in batch mode.
struct PromptChannel {
  bool batch_mode = false;
};

/// Asks one question (a passphrase, a password, a keyboard-interactive prompt). Returns
/// nullopt when nobody can be asked or the user gave no answer (EOF, askpass failed).
/// The answer is a secret: callers wipe it with WipeSecret when done, and never log it.
std::optional<std::string> AskUser(const PromptChannel& channel, const std::string& question,
                                   bool echo);

/// How many questions AskUser has put to the user in this process.
int QuestionsAsked();

/// True when AskUser could reach someone at all.
bool CanAskUser(const PromptChannel& channel);

/// Overwrites a secret before its memory is released.
void WipeSecret(std::string* secret);

}  // namespace tether
