// The task registry: a new dataset is one file in eval/tasks/ plus one line here.
#include <filesystem>

#include "eval/task.h"

namespace lmul::eval {

const char* TaskKindName(TaskKind k) {
  switch (k) {
    case TaskKind::kMultipleChoice:
      return "multiple_choice";
    case TaskKind::kLastWord:
      return "last_word";
    case TaskKind::kRolling:
      return "rolling";
    case TaskKind::kGenerate:
      return "generate_until";
  }
  return "?";
}

const std::vector<TaskSpec>& Tasks() {
  static const std::vector<TaskSpec> tasks = {
      WikiText2Task(), ArcEasyTask(),    ArcChallengeTask(), PiqaTask(),  HellaSwagTask(),
      LambadaTask(),   WinograndeTask(), BoolqTask(),        Gsm8kTask(),
  };
  return tasks;
}

const TaskSpec* FindTask(const std::string& name) {
  for (const TaskSpec& t : Tasks()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::string TaskNames() {
  std::string s;
  for (const TaskSpec& t : Tasks()) s += (s.empty() ? "" : ", ") + t.name;
  return s;
}

Result<std::vector<Example>> LoadTask(const TaskSpec& spec, const std::string& data_dir) {
  const std::string dir = data_dir + "/" + spec.folder;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return MakeError("task " + spec.name + ": no folder " + dir + " (expected " + spec.files + ")");
  }
  auto ex = spec.load(dir);
  if (!ex.ok()) return ex;
  if (ex->empty()) return MakeError("task " + spec.name + ": " + dir + " holds no examples");
  return ex;
}

}  // namespace lmul::eval
