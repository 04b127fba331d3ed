# A thaw Python handler: called once per request with the event
#   {"method", "path", "query", "headers", "body" (bytes)}
# and a context (function_name, request_id, get_remaining_time_in_millis()). It returns
# {"status", "headers", "body"} (body: str, bytes or anything JSON-serialisable) or a plain value.
import platform

from greeting import greet


def handler(event, context):
    name = event["query"].get("name", "world")
    if name == "error":
        raise ValueError("no greeting for error")
    print(f"greeting {name} ({len(event['body'])} bytes in)")
    return {
        "status": 200,
        "body": {
            "greeting": greet(name),
            "method": event["method"],
            "path": event["path"],
            "bytes": len(event["body"]),
            "python": platform.python_version(),
            "function": context.function_name,
            "requestId": context.request_id,
            "remainingMs": context.get_remaining_time_in_millis(),
        },
    }
