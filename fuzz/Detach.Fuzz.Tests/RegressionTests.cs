namespace Detach.Fuzz.Tests;

/// <summary>
/// Each fuzz target over its seeds and the findings saved in fuzz/findings/&lt;target&gt;/ (each the input of a bug that
/// was fixed): what `fuzz/run.sh --regress` does, in the suite.
/// </summary>
public class RegressionTests
{
    public static TheoryData<string> Targets => new(FuzzTargets.All.Select(t => t.Name));

    [Theory]
    [MemberData(nameof(Targets))]
    public void Every_seed_and_saved_finding_holds(string name)
    {
        var target = FuzzTargets.Find(name)!;
        var failures = Regression.Run(target, out var count);
        Assert.True(count > 0, $"{name} has no inputs");
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    [Fact]
    public void A_target_that_breaks_its_invariant_is_reported()
    {
        Assert.Contains("InvariantException", Regression.Describe(new Broken(), [1]), StringComparison.Ordinal);
        Assert.Null(Regression.Describe(new Broken(), []));
    }

    private sealed class Broken : FuzzTarget
    {
        public override string Name => "broken";

        public override string Invariant => "input is empty";

        public override void Run(byte[] input) => Check(input.Length == 0, "not empty");

        public override IEnumerable<(string Name, byte[] Data)> Seeds() => [];
    }
}
