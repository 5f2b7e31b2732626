// Package chaos is the project's reliability proof (issue 6): an in-process
// world that runs the real rotation, receiver and expiry handlers against the
// SP-API/LWA simulator (test/spapisim), the stateful Secrets Manager and
// SNS fakes, an in-memory SQS with visibility timeouts, receive counts and a
// dead-letter queue, and a player of Secrets Manager's rotation engine; a
// seeded fault schedule for it; and the invariants checked after every run.
//
// # The world
//
// Simulated time (a spapisim.ManualClock) drives everything Amazon and AWS do
// on a schedule: notification delivery delays, SQS visibility timeouts, the
// rotation cooldown, the simulator's rate limiter, Secrets Manager's retries
// of a failed rotation. The rotation function waits in real time (it polls,
// and gives up shortly before its context's deadline), so while a rotation
// step runs the clock advances TickSim per TickReal of real time; when no
// step runs, the driver jumps the clock to the next event. A Lambda timeout
// is therefore a real-time context deadline (StepTimeout, scaled down from
// minutes to milliseconds) and the rest of the world keeps moving while a
// step waits, as it does in AWS.
//
// Each world has one or more applications; each has its own simulator (one
// LWA client), its managed secret (tagged sp-api-lwa:client-id) and rotation
// enabled. The LWA and SP-API clients of the project talk HTTP to the
// simulators through an in-process http.RoundTripper that routes a token
// request by its client_id and a rotate call by its access token, records
// every access token the simulators grant (for the leak check) and every
// rotate call (for I3).
//
// The rotation engine and the event source mappings are test/awssim's,
// the ones the local stack plays too, here on the simulated clock.
//
// The rotation engine does what Secrets Manager does after RotateSecret:
// it invokes the four steps in order, each with its own deadline; on a step
// error it reattempts the rotation RetryDelay later (sooner, when a later
// RotateSecret is refused because of it: "That rotation will be
// reattempted"); after the four steps succeeded it removes AWSPENDING
// (secretsmanagertest.Fake.FinishRotation). Under faults a reattempt may
// start while a run of the same token is still going (two concurrent
// createSecret calls for one token).
//
// The SQS event source mappings invoke the receiver and the expiry handler
// with batches of up to ten visible messages, one invocation at a time
// (reserved concurrency 1), delete the messages not listed in
// BatchItemFailures, and leave the others to reappear after the visibility
// timeout; a message received more than MaxReceiveCount times moves to the
// dead-letter queue. Once faults stop, an operator (answering the
// dead-letter alarm) moves dead-lettered messages back, as the README's
// runbook says; the count is reported.
//
// The handlers are the candidate model's: the receiver only appends (each
// delivery is a version of its own, labelled LWA_RECEIVED or
// LWA_SUPERSEDED) and starts a rotation; createSecret chooses among all
// stored versions by expiry, adopts neither of two different secrets with
// the same newest expiry (and asks Amazon), and never adopts a secret
// listed in sp-api-lwa:rejected-secrets; testSecret lists a secret LWA
// still refuses RejectAfter (the deployed default, in simulated time) after
// the secret was first stored, and finishSecret asks LWA before it moves
// AWSCURRENT.
//
// About one seeded run in ten (ForgedShare) also gets a forged delivery
// (Schedule.Forged): a well-formed NEW_SECRET message for a managed client
// id, sent on the same queue as Amazon's during the fault phase, whose
// client secret LWA never accepts and whose expiry (ForgedExpiry) is later
// than any genuine one. Its rotation adopts it, testSecret fails on it
// until the rejection, and Secrets Manager's reattempts (every RetryDelay)
// reach RejectAfter within the run. In such runs the operator also starts
// a rotation once faults stopped and the world is idle while an app's
// AWSCURRENT is not its newest secret (World.OperatorRotates, counted in
// Result.OperatorRotations), as the rotation schedule or a person reading
// the ROTATION_FAILED alert does in production; in other runs a stored
// secret nothing adopts stays an I5 failure.
//
// # Invariants (checked after every run, see Result)
//
//   - I1 Nothing lost: every client secret a simulator issued after the
//     initial one is stored in some version of its managed secret, and once
//     settled AWSCURRENT holds the newest one.
//   - I2 Always working: at every observation point (every driver step)
//     AWSCURRENT holds a client secret the simulator's LWA accepts.
//   - I3 No needless rotation: at most one rotate call that issues a secret
//     per rotation (ClientRequestToken), unless the cooldown elapsed without
//     the previous secret being stored (explained), or the SP-API client
//     retried a 5xx whose response was lost (explained: docs/design.md requires
//     5xx to be retried). No issuing call while a secret newer than
//     AWSCURRENT's was already stored, unless that secret has the same
//     expiry, to the millisecond, as AWSCURRENT's or as another stored
//     secret's (Result.Tied: issued at once, unorderable, so createSecret
//     adopts neither and the call is the only way to a secret known to be
//     the newest; see checkRotateCalls). A rotation a receiver started to
//     adopt its secret that asks Amazon because a rotation finishing just
//     before the receiver's RotateSecret had already adopted that secret is
//     counted as explained (Result.ExplainedLate: the race is the
//     receiver's, it costs a secret and loses none). Issuing calls that
//     overlap another rotation's undelivered secret are counted separately.
//     Forged secrets are not Amazon's and take no part in I3.
//   - I4 No leak: no issued or forged client secret, access token or
//     refresh token in any log line of any function, any published alert,
//     or any error a handler returned.
//   - I5 Bounded: once faults stop, the world settles (nothing queued,
//     nothing in flight, no rotation pending, AWSCURRENT the newest secret)
//     within SettleBound of simulated time and MaxSettleRuns rotation runs.
//   - I6 Nothing forged is trusted: at no observation point does AWSCURRENT
//     hold a forged secret; every forged delivery is stored in some version
//     (storing is unconditional); once settled, every forged secret is
//     listed in sp-api-lwa:rejected-secrets while AWSCURRENT holds the
//     newest genuine secret (I1), which LWA accepts (I2); and no secret
//     Amazon issued is ever listed as rejected.
//
// Crash points (CrashPoints) enumerate every side-effect boundary of the
// three handlers, each in a fault-free scenario (Scenarios) that reaches it,
// the rejection of a forged secret included; a crash may be limited to one
// rotation step (Crash.Step). The tests inject a failure at each one and
// check the same invariants, and a source scan fails when a side-effecting
// call has no row.
package chaos
