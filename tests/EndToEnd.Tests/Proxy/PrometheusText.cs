using System.Globalization;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>One sample line of the Prometheus text format: <c>name{labels} value</c>.</summary>
public sealed record PrometheusSample(string Name, string Labels, double Value);

/// <summary>
/// The samples of a /metrics page (text exposition format 0.0.4): comment lines skipped, each other line
/// split into name, the label text between braces (kept raw) and the value. Malformed lines throw.
/// </summary>
public sealed class PrometheusText
{
    private PrometheusText(IReadOnlyList<PrometheusSample> samples, string text)
    {
        Samples = samples;
        Text = text;
    }

    public IReadOnlyList<PrometheusSample> Samples { get; }

    public string Text { get; }

    public static PrometheusText Parse(string text)
    {
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            string name;
            var labels = "";
            string rest;
            var brace = line.IndexOf('{', StringComparison.Ordinal);
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (brace >= 0 && (space < 0 || brace < space))
            {
                var close = line.LastIndexOf('}');
                if (close < brace)
                {
                    throw new FormatException($"Unclosed label set: {line}");
                }

                name = line[..brace];
                labels = line[(brace + 1)..close];
                rest = line[(close + 1)..].Trim();
            }
            else if (space > 0)
            {
                name = line[..space];
                rest = line[(space + 1)..].Trim();
            }
            else
            {
                throw new FormatException($"No value: {line}");
            }

            // A timestamp may follow the value.
            var valueText = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
            var value = valueText switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            samples.Add(new PrometheusSample(name, labels, value));
        }

        return new PrometheusText(samples, text);
    }

    /// <summary>The sum over all label sets of <paramref name="name"/>; 0 when absent. Fails when the name occurs twice with the same labels.</summary>
    public double Value(string name)
    {
        var matching = Samples.Where(s => s.Name == name).ToArray();
        var duplicate = matching.GroupBy(s => s.Labels).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new InvalidOperationException($"{name}{{{duplicate.Key}}} appears {duplicate.Count()} times on the page:\n{Text}");
        }

        return matching.Sum(s => s.Value);
    }

    public bool Contains(string name) => Samples.Any(s => s.Name == name);
}
