using System.Collections;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Detach.Gateway.Configuration;

/// <summary>
/// Reports the entries of typed map settings (<c>Dictionary&lt;string, int&gt;</c> and the like) that the binder dropped.
/// For a dictionary's values the configuration binder skips what it cannot convert, without an error, so
/// <c>Vault:RetentionDaysBySenderDomain:example.com=abc</c> would leave that domain on the default retention.
/// </summary>
internal static class MapSetting
{
    /// <summary>Adds an error naming each configured key of a typed map on <paramref name="options"/> that did not bind.</summary>
    public static void Check(object options, IConfiguration configuration, string? section, List<string> errors)
    {
        foreach (var property in options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var type = property.PropertyType;
            if (!type.IsGenericType || type.GetGenericTypeDefinition() != typeof(Dictionary<,>)
                || type.GenericTypeArguments[0] != typeof(string) || type.GenericTypeArguments[1] == typeof(string)
                || property.GetValue(options) is not IDictionary bound)
            {
                continue;
            }

            var key = section is null ? property.Name : $"{section}:{property.Name}";
            var valueType = Nullable.GetUnderlyingType(type.GenericTypeArguments[1]) ?? type.GenericTypeArguments[1];
            foreach (var entry in configuration.GetSection(key).GetChildren())
            {
                if (!bound.Contains(entry.Key))
                {
                    errors.Add($"{key}:{entry.Key} must be {Expected(valueType)}, not '{entry.Value}'.");
                }
            }
        }
    }

    private static string Expected(Type type) =>
        type == typeof(int) || type == typeof(long) ? "a whole number"
        : type == typeof(bool) ? "true or false"
        : type.IsEnum ? "one of " + string.Join(", ", Enum.GetNames(type))
        : "a " + type.Name;
}
