/* formats: see formats.h. */
#include "formats.h"

#include "provider.h"
#include "vertex.h"

const struct format *format_of_api(int api)
{
  switch ((enum upstream_api)api) {
  case UPSTREAM_ANTHROPIC:
    return &format_claude;
  case UPSTREAM_GEMINI:
    return &format_gemini;
  default:
    return &format_openai;       /* openai, azure, cohere, jina: OpenAI's shapes */
  }
}

const struct format *format_for_model(int api, const char *upstream_model)
{
  if (api == UPSTREAM_VERTEX)
    return vertex_is_claude(upstream_model) ? &format_claude : &format_gemini;
  return format_of_api(api);
}
