// A program outside the lmul tree, built against an installed lmul (find_package or
// pkg-config; tests/consumer/run.sh): one call into each layer it links, each checked.
#include <cstdio>
#include <cstring>

#include "engine/model/policy.h"
#include "eval/task.h"
#include "kernels/elementwise.h"
#include "numeric/arith.h"

int main() {
  auto arith = lmul::Arith::Parse("lmul/bf16");
  if (!arith.ok()) return 1;
  const float a[3] = {1.5f, -3.25f, 0.1f};
  const float b[3] = {2.0f, 0.75f, 7.0f};
  float y[3];
  lmul::kernels::MulElementwise(*arith, a, b, y, 3);
  for (int i = 0; i < 3; ++i) {
    float ref = arith->Mul(a[i], b[i]);  // the scalar spec
    if (std::memcmp(&y[i], &ref, sizeof ref) != 0) {
      std::printf("kernel %g != reference %g at %d\n", y[i], ref, i);
      return 1;
    }
  }
  auto policy = lmul::engine::Policy::Parse("lmul-attn");
  if (!policy.ok()) return 1;
  const lmul::eval::TaskSpec* task = lmul::eval::FindTask("arc_easy");
  if (task == nullptr) return 1;
  std::printf("consumer: %s 1.5*2 = %g; policy %s; task %s\n", arith->Name().c_str(), y[0],
              policy->Name().c_str(), task->name.c_str());
  return 0;
}
