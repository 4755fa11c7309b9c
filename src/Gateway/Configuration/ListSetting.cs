using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Detach.Gateway.Configuration;

/// <summary>The value a list setting has when no source configures it (the property itself starts empty).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ListDefaultAttribute(params string[] items) : Attribute
{
    public IReadOnlyList<string> Items { get; } = items;
}

/// <summary>
/// Reads list settings so that a configured list replaces the default and any list from an earlier source. The
/// configuration binder would add to the items an options object holds and merge the sources index by index, so a
/// list could only grow. The last source that sets the key decides: an array (appsettings.json, KEY:0=…, KEY__0=…),
/// or one value with items separated by commas or spaces; an empty value or [] is the empty list.
/// </summary>
internal static class ListSetting
{
    private static readonly char[] Separators = [',', ';', ' ', '\t'];

    /// <summary>Sets every <c>List&lt;string&gt;</c> property of <paramref name="options"/> from <paramref name="configuration"/>.</summary>
    public static void Apply(object options, IConfiguration configuration, string? section, List<string> errors)
    {
        foreach (var property in options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.PropertyType != typeof(List<string>) || !property.CanWrite)
            {
                continue;
            }

            var key = section is null ? property.Name : $"{section}:{property.Name}";
            var items = Read(configuration, key, errors)
                ?? property.GetCustomAttribute<ListDefaultAttribute>()?.Items
                ?? [];
            property.SetValue(options, items.ToList());
        }
    }

    /// <summary>The items the last source setting <paramref name="key"/> gives, or null when none sets it.</summary>
    internal static IReadOnlyList<string>? Read(IConfiguration configuration, string key, List<string> errors)
    {
        if (configuration is not IConfigurationRoot root)
        {
            var section = configuration.GetSection(key);
            return section.Exists() ? FromSource(key, section.Value, section.GetChildren().Select(c => (c.Key, c.Value, c.GetChildren().Any())), errors) : null;
        }

        foreach (var provider in root.Providers.Reverse())
        {
            var children = provider.GetChildKeys([], key).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
            provider.TryGet(key, out var value);
            if (children.Count == 0 && value is null)
            {
                continue;
            }

            var items = children.Select(child =>
            {
                provider.TryGet($"{key}:{child}", out var item);
                return (child, item, provider.GetChildKeys([], $"{key}:{child}").Any());
            });
            return FromSource(key, value, items, errors);
        }

        return null;
    }

    private static List<string> FromSource(string key, string? value, IEnumerable<(string Key, string? Value, bool Nested)> children, List<string> errors)
    {
        var items = children.ToList();
        if (items.Count == 0)
        {
            return (value ?? "").Split(Separators, StringSplitOptions.RemoveEmptyEntries).ToList();
        }

        var list = new List<string>();
        foreach (var (index, item, nested) in items.OrderBy(i => int.TryParse(i.Key, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : int.MaxValue))
        {
            if (nested || !int.TryParse(index, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                errors.Add($"{key} must be a list of text values; '{key}:{index}' is not one.");
            }
            else if (!string.IsNullOrWhiteSpace(item))
            {
                list.Add(item.Trim());
            }
        }

        return list;
    }
}
