namespace Detach.Mime;

/// <summary>
/// The parameters of a structured header field (Content-Type, Content-Disposition), decoded: RFC 2231 continuations,
/// charsets and languages resolved, RFC 2047 words decoded (<see cref="HeaderDecoding"/>). Names are case-insensitive.
/// </summary>
public sealed class HeaderParameters
{
    private readonly Dictionary<string, string> _values;

    internal HeaderParameters(Dictionary<string, string> values) => _values = values;

    public static HeaderParameters Empty { get; } = new(new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase));

    public IEnumerable<string> Names => _values.Keys;

    public string? this[string name] => _values.TryGetValue(name, out var v) ? v : null;
}
