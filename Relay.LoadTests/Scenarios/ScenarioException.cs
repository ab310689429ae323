namespace Relay.LoadTests.Scenarios;

/// A run that cannot go on (relay unreachable, limit too low): Program prints the message, exits 1.
internal sealed class ScenarioException(string message) : Exception(message);
