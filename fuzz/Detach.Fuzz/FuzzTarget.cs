namespace Detach.Fuzz;

/// <summary>
/// One fuzz target: a parser facing the network, driven by arbitrary bytes. <see cref="Run"/> returns when the input
/// was handled as the code promises (accepted, or refused the documented way) and throws otherwise: a
/// <see cref="InvariantException"/> when a checked property does not hold, or whatever unexpected exception escaped.
/// </summary>
internal abstract class FuzzTarget
{
    public abstract string Name { get; }

    /// <summary>What is checked beyond "no crash", for the listing.</summary>
    public abstract string Invariant { get; }

    public abstract void Run(byte[] input);

    /// <summary>Starting inputs: small, valid or nearly so, each exercising a different path.</summary>
    public abstract IEnumerable<(string Name, byte[] Data)> Seeds();

    protected static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvariantException(what);
        }
    }
}

/// <summary>A property the target promises did not hold: a finding.</summary>
internal sealed class InvariantException(string message) : Exception(message);
