// Package chaos is the project's reliability proof (issue 6): an in-process
// world that runs the real rotation, receiver and expiry handlers against the
// SP-API/LWA simulator (test/spapisim), the Secrets Manager and SNS fakes, an
// in-memory SQS with a dead-letter queue, and test/awssim's rotation engine and
// event source mappings; a seeded fault schedule for it; and the invariants
// checked after every run.
//
// Simulated time (a spapisim.ManualClock) drives whatever AWS and Amazon do on a
// schedule: delivery delays, visibility timeouts, the cooldown, the rate limiter,
// reattempts of failed rotations. Handlers wait in real time, so while a rotation
// step runs the clock advances TickSim per TickReal, and a Lambda timeout is a
// real-time deadline (StepTimeout); when nothing runs the driver jumps to the
// next event. Each application has its own simulator and managed secret; the
// project's LWA and SP-API clients reach the simulators through an in-process
// http.RoundTripper that records every access token and rotate call.
//
// About one seeded run in ten (ForgedShare) also gets a forged delivery: a
// well-formed NEW_SECRET message whose secret LWA never accepts and whose expiry
// (ForgedExpiry) is later than any genuine one. In such runs an operator starts
// a rotation once faults stopped and the world is idle while an app's AWSCURRENT
// is not its newest secret (World.OperatorRotates), as the rotation schedule or a
// person reading ROTATION_FAILED does; elsewhere an unadopted secret stays an I5
// failure. Once faults stop, the operator also redrives dead-lettered messages.
//
// # Invariants (see Result)
//
//   - I1 Nothing lost: every secret a simulator issued is stored in some version,
//     and once settled AWSCURRENT holds the newest.
//   - I2 Always working: at every observation AWSCURRENT holds a secret LWA accepts.
//   - I3 No needless rotation: at most one issuing rotate call per rotation unless
//     explained (a retried 5xx whose answer was lost, an elapsed cooldown, two
//     concurrent runs, a receiver's rotation started just after its secret was
//     adopted), and none while a secret newer than AWSCURRENT's was stored unless
//     tied to it by expiry (checkRotateCalls).
//   - I4 No leak: no secret, forged secret, access or refresh token in any log
//     line, alert or returned error.
//   - I5 Bounded: once faults stop the world settles (nothing queued, in flight or
//     pending, AWSCURRENT the newest) within SettleBound and MaxSettleRuns.
//   - I6 Nothing forged is trusted: a forged secret is stored, never AWSCURRENT,
//     and listed in sp-api-lwa:rejected-secrets once settled; no secret Amazon
//     issued is ever listed as rejected.
//
// CrashPoints enumerate every side-effect boundary of the three handlers, each in
// a fault-free scenario (Scenarios) that reaches it; the tests crash at each one
// and check the same invariants, and a source scan fails on a side-effecting
// call without a row.
package chaos
