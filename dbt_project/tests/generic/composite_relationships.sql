{#-
    Fails for every row of the model whose combination of `columns` (none of them null) has no row
    in `to` with the same values in `fields` (in the same order): `relationships` on a composite key,
    such as a session's (organization_id, session_id).
-#}
{% test composite_relationships(model, columns, to, fields) %}

with

child as (

    select {{ columns | join(', ') }}

    from {{ model }}

    where
        {% for column in columns %}
            {{ column }} is not null{% if not loop.last %} and{% endif %}
        {% endfor %}

),

parent as (

    select {{ fields | join(', ') }}

    from {{ to }}

)

select child.*

from child

left join parent
    on
        {% for column in columns %}
            child.{{ column }} = parent.{{ fields[loop.index0] }}{% if not loop.last %} and{% endif %}
        {% endfor %}

where parent.{{ fields[0] }} is null

{% endtest %}
