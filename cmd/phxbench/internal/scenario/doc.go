// Package scenario is phxbench's scenario language: the strict JSON
// format (Scenario, Group, Step, Expect, Duration), the built-in scenarios
// the flags describe, placeholders ({{id}}, {{seq}}, {{stamp}}, …), and the
// compiler that turns a scenario into a Program of ops the engine
// interprets. It also estimates a run's planned duration (for progress). It
// depends on wire (delivery stamps in payload templates).
package scenario
