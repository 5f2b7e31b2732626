// Package chaos is the project's reliability proof (issue 6): the real rotation, receiver and
// expiry handlers run in process against the SP-API/LWA simulator, the Secrets Manager and SNS
// fakes, in-memory SQS queues with dead-letter queues and test/awssim's rotation engine and event
// source mappings, under simulated time (TickSim per TickReal while a step runs; else a jump to the
// next event) and a seeded fault schedule, which in ForgedShare percent of runs forges a delivery.
//
// # Invariants (see Result)
//
//   - I1 Nothing lost: every issued secret is stored; once settled AWSCURRENT holds the newest.
//   - I2 Always working: at every observation AWSCURRENT holds a secret LWA accepts.
//   - I3 No needless rotation: one issuing rotate call per rotation unless explained, and none
//     while a secret newer than AWSCURRENT's was stored unless tied to it (checkRotateCalls).
//   - I4 No leak: no secret, forged secret, access or refresh token in a log, alert or error.
//   - I5 Bounded: once faults stop the world settles within SettleBound and MaxSettleRuns.
//   - I6 Nothing forged is trusted: a forged secret is stored, never AWSCURRENT, and listed in
//     sp-api-lwa:rejected-secrets once settled; no genuine secret is ever listed as rejected.
package chaos
