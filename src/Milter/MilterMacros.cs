using System.Buffers;
using System.Text;

namespace Detach.Milter;

/// <summary>
/// The macros the MTA sent (SMFIC_MACRO), by the command they came with. A lookup finds the most recent stage that
/// has the name; a new connection, HELO or MAIL forgets the stages after it, as libmilter does. Names are kept
/// without braces, so "{auth_authen}" and "auth_authen" are the same. At most a fixed number per stage is kept.
/// </summary>
public sealed class MilterMacros(int maxPerStage)
{
    // Stages in protocol order: a later stage's macros win and are forgotten first.
    private static readonly byte[] Order = "CHMRTLNBE"u8.ToArray();

    private readonly Dictionary<string, string>?[] _stages = new Dictionary<string, string>?[Order.Length];

    /// <summary>True when some macro was dropped because a stage had too many.</summary>
    public bool Truncated { get; private set; }

    /// <summary>The value of <paramref name="name"/> ("i", "{auth_authen}", "auth_authen"), or null.</summary>
    public string? this[string name]
    {
        get
        {
            var key = Bare(name);
            for (int i = _stages.Length - 1; i >= 0; i--)
            {
                if (_stages[i] is { } stage && stage.TryGetValue(key, out var value))
                {
                    return value;
                }
            }

            return null;
        }
    }

    /// <summary>Replaces the macros of the stage <paramref name="command"/> with the NUL-separated pairs in <paramref name="pairs"/>.</summary>
    internal void Set(byte command, ReadOnlySequence<byte> pairs)
    {
        int at = Array.IndexOf(Order, command);
        if (at < 0)
        {
            return; // macros for a command without a stage (ABORT, QUIT...): nothing asks for them
        }

        var stage = _stages[at] ??= new Dictionary<string, string>(StringComparer.Ordinal);
        stage.Clear();
        var reader = new SequenceReader<byte>(pairs);
        while (!reader.End)
        {
            var name = NextString(ref reader);
            var value = reader.End ? ReadOnlySequence<byte>.Empty : NextString(ref reader);
            if (stage.Count >= maxPerStage)
            {
                Truncated = true;
                return;
            }

            stage[Bare(Decode(name))] = Decode(value);
        }
    }

    /// <summary>The next NUL-terminated string (the last one may lack its NUL).</summary>
    private static ReadOnlySequence<byte> NextString(ref SequenceReader<byte> reader)
    {
        if (reader.TryReadTo(out ReadOnlySequence<byte> text, 0))
        {
            return text;
        }

        text = reader.UnreadSequence;
        reader.AdvanceToEnd();
        return text;
    }

    /// <summary>Forgets the macros of <paramref name="command"/>'s stage and of every later one.</summary>
    internal void ClearFrom(MilterCommand command)
    {
        int at = Array.IndexOf(Order, (byte)command);
        for (int i = Math.Max(0, at); i < _stages.Length; i++)
        {
            _stages[i]?.Clear();
        }
    }

    private static string Bare(string name) =>
        name.Length > 2 && name[0] == '{' && name[^1] == '}' ? name[1..^1] : name;

    private static string Decode(ReadOnlySequence<byte> bytes) => Encoding.UTF8.GetString(bytes);
}
